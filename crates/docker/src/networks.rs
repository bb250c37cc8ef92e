//! Network endpoints.

use std::collections::HashMap;

use http::{HeaderMap, Method};
use serde::Serialize;
use serde_json::{Value, json};

use crate::client::{Docker, Filters, Query, segment, to_body};
use crate::error::Result;
use crate::models::{CreatedNetwork, Network};

/// Body of [`Docker::create_network`].
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateNetwork {
    /// Name.
    pub name: String,
    /// Driver; the daemon's default (`bridge`) when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub driver: String,
    /// No external connectivity.
    pub internal: bool,
    /// Labels.
    pub labels: HashMap<String, String>,
}

impl Docker {
    /// `GET /networks`.
    pub async fn list_networks(&self, filters: &Filters) -> Result<Vec<Network>> {
        self.get_json("/networks", Query::new().filters(filters))
            .await
    }

    /// `GET /networks/{id}`, including attached containers.
    pub async fn inspect_network(&self, id: &str) -> Result<Network> {
        self.get_json(&format!("/networks/{}", segment(id)), Query::new())
            .await
    }

    /// `POST /networks/create`.
    pub async fn create_network(&self, network: &CreateNetwork) -> Result<CreatedNetwork> {
        self.json(
            Method::POST,
            "/networks/create",
            Query::new(),
            Some(to_body(network)?),
            HeaderMap::new(),
        )
        .await
    }

    /// `DELETE /networks/{id}`.
    pub async fn remove_network(&self, id: &str) -> Result<()> {
        let path = format!("/networks/{}", segment(id));
        let result = self
            .empty(Method::DELETE, &path, Query::new(), None)
            .await
            .map(drop);
        self.confirm_gone(result, &path, || ()).await
    }

    /// `POST /networks/{id}/connect`. `endpoint_config` carries aliases, static
    /// addresses (`IPAMConfig`) and the MAC address.
    pub async fn connect_network(
        &self,
        network: &str,
        container: &str,
        endpoint_config: Option<&Value>,
    ) -> Result<()> {
        let mut body = json!({ "Container": container });
        if let Some(config) = endpoint_config {
            body["EndpointConfig"] = config.clone();
        }
        self.empty(
            Method::POST,
            &format!("/networks/{}/connect", segment(network)),
            Query::new(),
            Some(to_body(&body)?),
        )
        .await
        .map(drop)
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn disconnect_network(
        &self,
        network: &str,
        container: &str,
        force: bool,
    ) -> Result<()> {
        let body = json!({ "Container": container, "Force": force });
        self.empty(
            Method::POST,
            &format!("/networks/{}/disconnect", segment(network)),
            Query::new(),
            Some(to_body(&body)?),
        )
        .await
        .map(drop)
    }
}
