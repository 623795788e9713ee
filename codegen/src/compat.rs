//! Schema compatibility: what in a new version of a `.proto` breaks peers built from the old
//! one, in the spirit of `buf breaking` (wire and JSON rules), plus what breaks postcard.
//!
//! Breaking: a field number reused with another name or an incompatible type; a field removed
//! without reserving its number; a change of cardinality; a message or enum that a kept field
//! or rpc refers to removed; an rpc removed or its request/response type changed; an enum value
//! removed without reserving it; a service or the package renamed.
//!
//! Compatible: a new field, a new rpc, a new enum value, a new message. Scalar types that share
//! a wire encoding and value range are interchangeable only where protobuf itself allows it
//! without loss: `int32`↔`int64`, `uint32`↔`uint64`, `sint32`↔`sint64`, `string`↔`bytes`
//! (valid UTF-8 only), and `optional T`↔`T`.
//!
//! Warned: any change of a message's field set. Protobuf, JSON and MessagePack in map mode
//! tolerate an added field; postcard is positional, so a postcard peer with the old schema
//! misreads the new message. Every arpc method accepts postcard, so each such change is listed
//! with the rpcs that carry the message. And a new enum value: peers in other languages keep
//! an unknown enum number, but an arpc peer built from the old schema rejects a message that
//! carries it (a Rust enum cannot hold an unknown value), so readers must be upgraded before
//! writers send the new value.

use std::collections::BTreeSet;
use std::fmt;

use crate::parse::{Field, ProtoFile};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Old peers break.
    Breaking,
    /// Only postcard peers with the old schema break.
    PostcardOnly,
    /// arpc peers with the old schema reject messages that use the change (a new enum value)
    /// until they are upgraded; other peers cope.
    ArpcReaders,
}

/// One finding, with where it is in the new file (or the old one, for removals).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Breaking or a postcard warning.
    pub severity: Severity,
    /// `Message.field`, `Service.Rpc`, `Enum.VALUE`, ...
    pub subject: String,
    /// The line in the new file (or the old one for something removed).
    pub line: usize,
    /// What changed.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.severity {
            Severity::Breaking => "BREAKING",
            Severity::PostcardOnly => "warning (postcard)",
            Severity::ArpcReaders => "warning (arpc readers)",
        };
        write!(
            f,
            "{tag}: line {}: {}: {}",
            self.line, self.subject, self.message
        )
    }
}

/// Compares two versions of a schema.
pub fn check(old: &ProtoFile, new: &ProtoFile) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut added_enum_values = Vec::new();
    let mut breaking = |subject: String, line: usize, message: String| {
        out.push(Finding {
            severity: Severity::Breaking,
            subject,
            line,
            message,
        });
    };
    if old.package != new.package {
        breaking(
            "package".into(),
            1,
            format!(
                "renamed from `{}` to `{}`: every path changes",
                old.package, new.package
            ),
        );
    }
    for (name, svc) in &old.services {
        let Some(new_svc) = new.services.get(name) else {
            breaking(
                name.clone(),
                1,
                "service removed or renamed: its clients' calls become UNIMPLEMENTED".into(),
            );
            continue;
        };
        for (rpc_name, rpc) in &svc.rpcs {
            let subject = format!("{name}.{rpc_name}");
            match new_svc.rpcs.get(rpc_name) {
                None => breaking(subject, rpc.line, "rpc removed or renamed".into()),
                Some(n) if n.request != rpc.request || n.response != rpc.response => breaking(
                    subject,
                    n.line,
                    format!(
                        "signature changed from ({}) returns ({}) to ({}) returns ({})",
                        rpc.request, rpc.response, n.request, n.response
                    ),
                ),
                Some(_) => {}
            }
        }
    }
    for (name, msg) in &old.messages {
        let Some(new_msg) = new.messages.get(name) else {
            // An unreferenced message may go; a removed reference is reported where it was.
            if is_referenced(new, name) {
                breaking(
                    name.clone(),
                    msg.line,
                    "message removed but still referenced".into(),
                );
            }
            continue;
        };
        for (number, field) in &msg.fields {
            let subject = format!("{name}.{}", field.name);
            match new_msg.fields.get(number) {
                None if !new_msg.is_reserved(*number) => breaking(
                    subject,
                    new_msg.line,
                    format!(
                        "field {number} removed without `reserved {number};`: a later field could \
                         reuse the number and old peers would misread it"
                    ),
                ),
                None => {}
                Some(n) => {
                    if n.name != field.name {
                        breaking(
                            subject.clone(),
                            n.line,
                            format!(
                                "field {number} renamed from `{}` to `{}`: JSON and MessagePack \
                                 peers key by name",
                                field.name, n.name
                            ),
                        );
                    }
                    if let Some(why) = type_change(field, n) {
                        breaking(subject, n.line, why);
                    }
                }
            }
        }
    }
    for (name, e) in &old.enums {
        let Some(new_e) = new.enums.get(name) else {
            if is_referenced(new, name) {
                breaking(
                    name.clone(),
                    e.line,
                    "enum removed but still referenced".into(),
                );
            }
            continue;
        };
        for (n, value) in &e.values {
            match new_e.values.get(n) {
                None if !new_e
                    .reserved_numbers
                    .iter()
                    .any(|(a, b)| (*a..=*b).contains(n)) =>
                {
                    breaking(
                        format!("{name}.{value}"),
                        new_e.line,
                        format!("enum value {n} removed without reserving it"),
                    );
                }
                Some(v) if v != value => breaking(
                    format!("{name}.{value}"),
                    new_e.line,
                    format!("enum value {n} renamed to `{v}`: JSON peers use names"),
                ),
                _ => {}
            }
        }
        for (n, value) in &new_e.values {
            if !e.values.contains_key(n) {
                added_enum_values.push(Finding {
                    severity: Severity::ArpcReaders,
                    subject: format!("{name}.{value}"),
                    line: new_e.line,
                    message: format!(
                        "enum value {n} added: arpc peers built from the old schema reject a \
                         message carrying it (other languages keep unknown values); upgrade \
                         readers before writers send it"
                    ),
                });
            }
        }
    }
    out.append(&mut added_enum_values);
    // Postcard: any change of a carried message's field set.
    for (name, msg) in &new.messages {
        let Some(old_msg) = old.messages.get(name) else {
            continue;
        };
        let old_set: BTreeSet<_> = old_msg
            .fields
            .iter()
            .map(|(n, f)| (n, &f.ty, &f.label))
            .collect();
        let new_set: BTreeSet<_> = msg
            .fields
            .iter()
            .map(|(n, f)| (n, &f.ty, &f.label))
            .collect();
        if old_set != new_set {
            let rpcs = rpcs_carrying(new, name);
            out.push(Finding {
                severity: Severity::PostcardOnly,
                subject: name.clone(),
                line: msg.line,
                message: format!(
                    "fields changed: protobuf, JSON and MessagePack peers cope with added fields, \
                     postcard peers with the old schema do not{}",
                    if rpcs.is_empty() {
                        String::new()
                    } else {
                        format!(" (carried by {})", rpcs.join(", "))
                    }
                ),
            });
        }
    }
    out.sort_by(|a, b| (a.severity, a.line, &a.subject).cmp(&(b.severity, b.line, &b.subject)));
    out
}

/// Whether any field or rpc of `file` names `ty`.
fn is_referenced(file: &ProtoFile, ty: &str) -> bool {
    let short = ty.rsplit('.').next().unwrap_or(ty);
    let names = |t: &str| {
        t == ty
            || t == short
            || t.contains(&format!(" {short}>"))
            || t.contains(&format!("<{short},"))
    };
    file.messages
        .values()
        .any(|m| m.fields.values().any(|f| names(&f.ty)))
        || file
            .services
            .values()
            .any(|s| s.rpcs.values().any(|r| r.request == ty || r.response == ty))
}

/// `Service.Rpc` names whose request or response is `ty` (directly).
fn rpcs_carrying(file: &ProtoFile, ty: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (s, svc) in &file.services {
        for (r, rpc) in &svc.rpcs {
            let allows_postcard = rpc
                .codecs
                .as_ref()
                .is_none_or(|c| c.iter().any(|c| c == "postcard"));
            if allows_postcard && (rpc.request == ty || rpc.response == ty) {
                out.push(format!("{s}.{r}"));
            }
        }
    }
    out
}

/// Why changing `old` into `new` breaks peers, if it does.
fn type_change(old: &Field, new: &Field) -> Option<String> {
    let repeated = |f: &Field| f.label == "repeated" || f.ty.starts_with("map<");
    if repeated(old) != repeated(new) || old.ty.starts_with("map<") != new.ty.starts_with("map<") {
        return Some(format!(
            "cardinality changed from `{} {}` to `{} {}`",
            old.label, old.ty, new.label, new.ty
        ));
    }
    if old.oneof.is_some() != new.oneof.is_some() {
        return Some("moved into or out of a oneof".into());
    }
    if old.ty == new.ty || compatible(&old.ty, &new.ty) {
        return None;
    }
    Some(format!("type changed from `{}` to `{}`", old.ty, new.ty))
}

fn compatible(a: &str, b: &str) -> bool {
    const GROUPS: [&[&str]; 4] = [
        &["int32", "int64"],
        &["uint32", "uint64"],
        &["sint32", "sint64"],
        &["string", "bytes"],
    ];
    GROUPS.iter().any(|g| g.contains(&a) && g.contains(&b))
}

/// Checking a service against a checked-in `.proto` failed before any comparison.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// The checked-in file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The checked-in file is not proto3 this reader understands.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The cause.
        source: crate::parse::ParseError,
    },
    /// The service's schema cannot be rendered.
    #[error(transparent)]
    Render(#[from] crate::proto::RenderError),
}

/// Compares a service's current schema (as the Rust code defines it) with the `.proto`
/// checked in at `checked_in`, the version peers were built from.
pub fn check_service(
    service: &arpc::schema::ServiceSchema,
    checked_in: &std::path::Path,
) -> Result<Vec<Finding>, CheckError> {
    let path = checked_in.display().to_string();
    let old_text = std::fs::read_to_string(checked_in).map_err(|source| CheckError::Read {
        path: path.clone(),
        source,
    })?;
    let old = crate::parse::parse(&old_text).map_err(|source| CheckError::Parse {
        path: path.clone(),
        source,
    })?;
    let new_text = crate::proto::render(service)?;
    let new =
        crate::parse::parse(&new_text).map_err(|source| CheckError::Parse { path, source })?;
    Ok(check(&old, &new))
}
