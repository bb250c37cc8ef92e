//! Swarm endpoints: services, their tasks, and the node swab runs on.
//!
//! Services travel as raw JSON: an update must send back the whole spec as the daemon
//! gave it, with every field the typed models would not know kept as it was.

use http::{HeaderMap, Method};
use serde_json::Value;

use crate::client::{Docker, Filters, Query, segment, to_body};
use crate::error::Result;
use crate::images::RegistryAuth;

impl Docker {
    /// `GET /services`: every service, as the daemon sent it. A node that is not a Swarm
    /// manager answers 503.
    pub async fn list_services(&self) -> Result<Vec<Value>> {
        self.get_json("/services", Query::new()).await
    }

    /// `GET /services/{id}`: one service with its `Version`, `Spec`, `PreviousSpec` and
    /// `UpdateStatus`.
    pub async fn inspect_service(&self, id: &str) -> Result<Value> {
        self.get_json(&format!("/services/{}", segment(id)), Query::new())
            .await
    }

    /// `POST /services/{id}/update?version=`: replaces the service's spec with `spec`, or
    /// with `rollback` asks Swarm to go back to its previous spec (`spec` is then the
    /// current one, as the API requires a body). `version` is the one read with the spec:
    /// a service changed meanwhile is refused by the daemon ("update out of sequence"),
    /// never overwritten. `auth` lets the worker nodes pull. Returns the daemon's warnings.
    pub async fn update_service(
        &self,
        id: &str,
        version: u64,
        spec: &Value,
        auth: Option<&RegistryAuth>,
        rollback: bool,
    ) -> Result<Vec<String>> {
        let mut query = Query::new().add("version", version);
        if rollback {
            query = query.add("rollback", "previous");
        }
        let headers: HeaderMap = RegistryAuth::header(auth)?;
        let answer: Value = self
            .json(
                Method::POST,
                &format!("/services/{}/update", segment(id)),
                query,
                Some(to_body(spec)?),
                headers,
            )
            .await?;
        Ok(answer["Warnings"]
            .as_array()
            .map(|w| {
                w.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `GET /tasks` with `filters` (`service`, `desired-state`, `node`).
    pub async fn list_tasks(&self, filters: &Filters) -> Result<Vec<Value>> {
        self.get_json("/tasks", Query::new().filters(filters)).await
    }

    /// `GET /nodes/{id}`.
    pub async fn inspect_node(&self, id: &str) -> Result<Value> {
        self.get_json(&format!("/nodes/{}", segment(id)), Query::new())
            .await
    }
}
