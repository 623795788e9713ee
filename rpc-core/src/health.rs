//! The standard gRPC health service (`grpc.health.v1.Health`), served by every
//! [`Server`](crate::Server) unless turned off, and tied to the server's life: `SERVING` once
//! the listener is serving, `NOT_SERVING` from the moment graceful shutdown starts (so load
//! balancers stop sending before connections close).
//!
//! Only the unary `Check` is served (arpc serves unary methods); `Watch` answers
//! `UNIMPLEMENTED`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::Status;

/// `grpc.health.v1.HealthCheckRequest`.
#[crate::message]
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HealthCheckRequest {
    /// The service to check (`package.Service`), or empty for the whole server.
    pub service: String,
}

/// `grpc.health.v1.HealthCheckResponse.ServingStatus`.
#[crate::message]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServingStatus {
    /// Not known.
    #[default]
    Unknown = 0,
    /// Serving.
    Serving = 1,
    /// Not serving (starting or shutting down).
    NotServing = 2,
    /// Used by `Watch` only.
    ServiceUnknown = 3,
}

/// `grpc.health.v1.HealthCheckResponse`.
#[crate::message]
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HealthCheckResponse {
    /// The status.
    pub status: ServingStatus,
}

/// The health service's interface, as gRPC defines it (its unary part).
#[crate::service(package = "grpc.health.v1", name = "Health")]
pub trait Health {
    /// The status of one service, or of the server for an empty name; `NOT_FOUND` for a
    /// service the server does not know.
    async fn check(&self, request: HealthCheckRequest) -> Result<HealthCheckResponse, Status>;
}

/// Shared health state: the server sets it, the health service reads it, and applications
/// may set their own services' status (a dependency down, say). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct HealthReporter {
    statuses: Arc<RwLock<HashMap<String, ServingStatus>>>,
}

impl HealthReporter {
    /// Sets the status of `service` (`""` is the whole server).
    pub fn set(&self, service: &str, status: ServingStatus) {
        if let Ok(mut map) = self.statuses.write() {
            map.insert(service.to_owned(), status);
        }
    }

    /// Sets every known service, and the server, to `status`.
    pub fn set_all(&self, status: ServingStatus) {
        if let Ok(mut map) = self.statuses.write() {
            for s in map.values_mut() {
                *s = status;
            }
            map.insert(String::new(), status);
        }
    }

    /// The status of `service`, if it is known.
    pub fn get(&self, service: &str) -> Option<ServingStatus> {
        self.statuses.read().ok()?.get(service).copied()
    }
}

impl Health for HealthReporter {
    async fn check(&self, request: HealthCheckRequest) -> Result<HealthCheckResponse, Status> {
        match self.get(&request.service) {
            Some(status) => Ok(HealthCheckResponse { status }),
            None => Err(Status::not_found(format!(
                "unknown service `{}`",
                request.service
            ))),
        }
    }
}
