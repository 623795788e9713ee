//! Apache Curator's service-discovery JSON (`curator-x-discovery`'s `ServiceInstance`, as
//! `JsonInstanceSerializer` writes it), so JVM services using Curator and arpc services see
//! each other in one ZooKeeper.
//!
//! Curator writes, in this order: `name`, `id`, `address`, `port`, `sslPort`, `payload`,
//! `registrationTimeUTC`, `serviceType` and `uriSpec` (and `enabled` only in its
//! non-compatible mode). arpc writes the same fields in the same order; its metadata goes in
//! `payload` as a JSON object tagged `"@class": "java.util.LinkedHashMap"`, which Curator's
//! Jackson reads as a `Map` payload. Reading is lenient as Curator's is: unknown fields are
//! ignored, `payload` may be absent, `null`, a string or an object (arpc's fields are taken
//! when present, defaults otherwise).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::instance::{Instance, InstanceMeta};

/// The JSON document of one instance, field for field as Curator has it.
#[derive(Debug, Serialize, Deserialize)]
struct ServiceInstance {
    name: String,
    id: String,
    address: Option<String>,
    port: Option<u16>,
    #[serde(rename = "sslPort")]
    ssl_port: Option<u16>,
    #[serde(default)]
    payload: Value,
    #[serde(rename = "registrationTimeUTC", default)]
    registration_time_utc: i64,
    #[serde(rename = "serviceType", default = "dynamic")]
    service_type: String,
    #[serde(rename = "uriSpec", default)]
    uri_spec: Value,
    #[serde(default = "yes", skip_serializing)]
    enabled: bool,
}

fn dynamic() -> String {
    "DYNAMIC".to_owned()
}

fn yes() -> bool {
    true
}

/// An instance document could not be read.
#[derive(Debug, thiserror::Error)]
#[error("not a Curator service instance: {0}")]
pub struct InvalidInstance(String);

/// Curator's JSON for `instance`, registered at `registered_at_ms` (Unix milliseconds).
pub fn to_json(instance: &Instance, registered_at_ms: i64) -> Vec<u8> {
    let mut payload = Map::new();
    payload.insert("@class".into(), "java.util.LinkedHashMap".into());
    payload.insert("codecs".into(), instance.meta.codecs.join(",").into());
    payload.insert("weight".into(), instance.meta.weight.into());
    payload.insert("zone".into(), instance.meta.zone.clone().into());
    payload.insert("version".into(), instance.meta.version.clone().into());
    let document = ServiceInstance {
        name: instance.service.clone(),
        id: instance.id.clone(),
        address: Some(instance.address.clone()),
        port: Some(instance.port),
        ssl_port: None,
        payload: Value::Object(payload),
        registration_time_utc: registered_at_ms,
        service_type: dynamic(),
        uri_spec: uri_spec(),
        enabled: true,
    };
    // Serializing plain strings, numbers and maps cannot fail.
    serde_json::to_vec(&document).unwrap_or_default()
}

/// Reads a Curator (or arpc) instance document. Instances without an address or plain-text
/// port, or disabled ones, are not callable and read as an error.
pub fn from_json(bytes: &[u8]) -> Result<Instance, InvalidInstance> {
    let document: ServiceInstance =
        serde_json::from_slice(bytes).map_err(|e| InvalidInstance(e.to_string()))?;
    if !document.enabled {
        return Err(InvalidInstance(format!(
            "instance {} is disabled",
            document.id
        )));
    }
    let (Some(address), Some(port)) = (document.address, document.port) else {
        return Err(InvalidInstance(format!(
            "instance {} has no address and plain-text port",
            document.id
        )));
    };
    let mut meta = InstanceMeta::default();
    if let Value::Object(payload) = &document.payload {
        if let Some(codecs) = payload.get("codecs").and_then(Value::as_str) {
            meta.codecs = codecs.split(',').map(str::to_owned).collect();
        }
        if let Some(weight) = payload.get("weight").and_then(Value::as_u64) {
            meta.weight = u32::try_from(weight).unwrap_or(u32::MAX);
        }
        if let Some(zone) = payload.get("zone").and_then(Value::as_str) {
            meta.zone = zone.to_owned();
        }
        if let Some(version) = payload.get("version").and_then(Value::as_str) {
            meta.version = version.to_owned();
        }
    }
    Ok(Instance {
        service: document.name,
        id: document.id,
        address,
        port,
        meta,
    })
}

/// Curator's `UriSpec("{scheme}://{address}:{port}")`, as it serializes it.
fn uri_spec() -> Value {
    let part =
        |value: &str, variable: bool| serde_json::json!({ "value": value, "variable": variable });
    serde_json::json!({ "parts": [
        part("scheme", true),
        part("://", false),
        part("address", true),
        part(":", false),
        part("port", true),
    ]})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte for byte what Curator 5.4's `ServiceDiscovery.registerService` wrote for a
    /// `ServiceInstance<String>` (Debian's `libcurator-discovery-java`, run against ZooKeeper).
    const CURATOR_STRING_PAYLOAD: &str = r#"{"name":"echo","id":"inst-1","address":"127.0.0.1","port":9000,"sslPort":null,"payload":"hello","registrationTimeUTC":1700000000000,"serviceType":"DYNAMIC","uriSpec":{"parts":[{"value":"scheme","variable":true},{"value":"://","variable":false},{"value":"address","variable":true},{"value":":","variable":false},{"value":"port","variable":true}]}}"#;

    #[test]
    fn reads_what_curator_writes() {
        let i = from_json(CURATOR_STRING_PAYLOAD.as_bytes()).unwrap();
        assert_eq!(i.service, "echo");
        assert_eq!(i.id, "inst-1");
        assert_eq!(i.uri(), "http://127.0.0.1:9000");
        assert_eq!(i.meta, InstanceMeta::default());
        // Map payloads, null payloads, and the `enabled` flag of Curator's newer mode.
        let map = CURATOR_STRING_PAYLOAD.replace(
            r#""payload":"hello""#,
            r#""payload":{"@class":"java.util.LinkedHashMap","weight":5,"zone":"eu-1"}"#,
        );
        let i = from_json(map.as_bytes()).unwrap();
        assert_eq!((i.meta.weight, i.meta.zone.as_str()), (5, "eu-1"));
        let null = CURATOR_STRING_PAYLOAD.replace(r#""payload":"hello""#, r#""payload":null"#);
        assert!(from_json(null.as_bytes()).is_ok());
        let disabled = CURATOR_STRING_PAYLOAD.replace("}]}}", "}]},\"enabled\":false}");
        assert!(from_json(disabled.as_bytes()).is_err());
    }

    #[test]
    fn writes_curators_layout() {
        let mut instance = Instance::new("echo", "127.0.0.1:9000".parse().unwrap());
        instance.id = "inst-1".into();
        let json = String::from_utf8(to_json(&instance, 1_700_000_000_000)).unwrap();
        // Curator's document with arpc's map payload in place of the string.
        let expected = CURATOR_STRING_PAYLOAD.replace(
            r#""payload":"hello""#,
            r#""payload":{"@class":"java.util.LinkedHashMap","codecs":"proto,json,msgpack,postcard","version":"","weight":1,"zone":""}"#,
        );
        assert_eq!(json, expected);
        assert_eq!(from_json(json.as_bytes()).unwrap(), instance);
    }

    #[test]
    fn bad_documents_are_errors() {
        for bad in [
            "",
            "{}",
            "[]",
            "{\"name\":1}",
            "{\"name\":\"a\",\"id\":\"b\"}",
        ] {
            assert!(from_json(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
