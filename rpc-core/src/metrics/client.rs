//! The client series: what discovering channels did besides sending calls (retries, retries
//! the budget refused, ejections), read from the channels' own counters at each scrape.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

use crate::client::balance::{ChannelStats, StatsHandle};

/// The channels a [`Metrics`](super::Metrics) reports; dropped channels leave on their own.
#[derive(Debug, Clone, Default)]
pub(super) struct ClientCollector {
    channels: Arc<Mutex<Vec<StatsHandle>>>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabels {
    service: String,
}

impl ClientCollector {
    pub(super) fn watch(&self, handle: StatsHandle) {
        self.channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(handle);
    }

    /// The counters summed per service, forgetting channels that are gone. A channel that
    /// is dropped takes its counts with it: a series may then go down, which Prometheus reads
    /// as a counter reset.
    fn per_service(&self) -> BTreeMap<String, ChannelStats> {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        let mut sums: BTreeMap<String, ChannelStats> = BTreeMap::new();
        channels.retain(|handle| match handle.read() {
            Some((service, stats)) => {
                let sum = sums.entry(service).or_default();
                sum.retries += stats.retries;
                sum.retry_budget_refusals += stats.retry_budget_refusals;
                sum.ejections += stats.ejections;
                true
            }
            None => false,
        });
        sums
    }
}

impl Collector for ClientCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let sums = self.per_service();
        type Series = (&'static str, &'static str, fn(&ChannelStats) -> u64);
        let series: [Series; 3] = [
            (
                "arpc_client_retries",
                "Calls sent a second time, to another instance",
                |s| s.retries,
            ),
            (
                "arpc_client_retry_budget_refusals",
                "Retries the retry budget refused",
                |s| s.retry_budget_refusals,
            ),
            (
                "arpc_client_ejections",
                "Instances ejected after a failed call",
                |s| s.ejections,
            ),
        ];
        for (name, help, value) in series {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (service, stats) in &sums {
                let labels = ServiceLabels {
                    service: service.clone(),
                };
                let metric: MetricEncoder<'_> = family.encode_family(&labels)?;
                ConstCounter::new(value(stats)).encode(metric)?;
            }
        }
        Ok(())
    }
}
