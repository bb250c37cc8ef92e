//! Volume endpoints.

use std::collections::HashMap;

use http::{HeaderMap, Method};
use serde_json::json;

use crate::client::{Docker, Filters, Query, segment, to_body};
use crate::error::Result;
use crate::models::{Volume, VolumeList};

impl Docker {
    /// `GET /volumes`.
    pub async fn list_volumes(&self, filters: &Filters) -> Result<VolumeList> {
        self.get_json("/volumes", Query::new().filters(filters))
            .await
    }

    /// `GET /volumes/{name}`.
    pub async fn inspect_volume(&self, name: &str) -> Result<Volume> {
        self.get_json(&format!("/volumes/{}", segment(name)), Query::new())
            .await
    }

    /// `POST /volumes/create`.
    pub async fn create_volume(
        &self,
        name: &str,
        labels: &HashMap<String, String>,
    ) -> Result<Volume> {
        let body = json!({ "Name": name, "Labels": labels });
        self.json(
            Method::POST,
            "/volumes/create",
            Query::new(),
            Some(to_body(&body)?),
            HeaderMap::new(),
        )
        .await
    }

    /// `DELETE /volumes/{name}`. A volume in use is a conflict; swab never forces.
    pub async fn remove_volume(&self, name: &str, force: bool) -> Result<()> {
        let path = format!("/volumes/{}", segment(name));
        let result = self
            .empty(
                Method::DELETE,
                &path,
                Query::new().add("force", force),
                None,
            )
            .await
            .map(drop);
        self.confirm_gone(result, &path, || ()).await
    }
}
