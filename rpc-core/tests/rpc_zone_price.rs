//! The network price of a discovering channel follows the zones its instances announce in
//! the registry: the same zone as the client's, or another.

mod rpc_support;

use std::net::SocketAddr;

use arpc::codec::NetworkPrice;
use arpc::registry::{Change, Changes, Discovery, Instance};
use futures_util::{StreamExt, stream};
use rpc_support::{ProbeClient, ProbeImpl, ping, start};

/// A registry whose instances carry a zone.
#[derive(Debug)]
struct Zoned(Vec<(SocketAddr, &'static str)>);

impl Discovery for Zoned {
    fn discover(&self, service: &str) -> Changes {
        let changes: Vec<_> = self
            .0
            .iter()
            .map(|(addr, zone)| {
                let mut instance = Instance::new(service, *addr);
                instance.meta.zone = (*zone).to_owned();
                Ok(Change::Insert(instance.id.clone(), instance))
            })
            .collect();
        stream::iter(changes).chain(stream::pending()).boxed()
    }
}

async fn price_seen(local: &str, instances: Vec<(SocketAddr, &'static str)>) -> f64 {
    let channel = arpc::Channel::discover_with(
        &Zoned(instances),
        "probe.v1.Probe",
        arpc::client::ChannelConfig::default().zone(local),
    );
    let client = ProbeClient::new(channel.clone());
    // A call waits for the first instances, so the price is settled after it.
    client.echo(ping("hi")).await.unwrap();
    channel.network_price().expect("a zone sets a price").get()
}

#[tokio::test]
async fn a_discovering_channel_prices_bytes_by_zone() {
    let a = start(ProbeImpl::default()).await;
    let b = start(ProbeImpl::default()).await;
    assert_eq!(
        price_seen("eu-1a", vec![(a.addr, "eu-1a"), (b.addr, "eu-1a")]).await,
        NetworkPrice::SAME_ZONE
    );
    // One instance elsewhere: a call may go there.
    assert_eq!(
        price_seen("eu-1a", vec![(a.addr, "eu-1a"), (b.addr, "eu-1b")]).await,
        NetworkPrice::CROSS_ZONE
    );
    // Instances that name no zone say nothing against the same-zone default.
    assert_eq!(
        price_seen("eu-1a", vec![(a.addr, "")]).await,
        NetworkPrice::SAME_ZONE
    );
    // An explicit price wins over zones.
    let channel = arpc::Channel::discover_with(
        &Zoned(vec![(a.addr, "us-2")]),
        "probe.v1.Probe",
        arpc::client::ChannelConfig::default()
            .zone("eu-1a")
            .network_price(NetworkPrice::LOOPBACK),
    );
    ProbeClient::new(channel.clone())
        .echo(ping("hi"))
        .await
        .unwrap();
    assert_eq!(
        channel.network_price().unwrap().get(),
        NetworkPrice::LOOPBACK
    );
}
