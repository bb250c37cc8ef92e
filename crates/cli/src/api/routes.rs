//! The API's routes: one table that the router matches against and that the OpenAPI
//! document (`docs/api.yaml`) is checked against, so the two cannot drift apart.

/// A route the daemon serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /`: the status page.
    Page,
    /// `GET /api/v1/status`.
    Status,
    /// `GET /api/v1/runs`.
    Runs,
    /// `POST /api/v1/runs`.
    StartRun,
    /// `GET /api/v1/runs/{id}`.
    Run,
    /// `GET /api/v1/updates`.
    Updates,
    /// `POST /api/v1/containers/{name}/update`.
    UpdateContainer,
    /// `POST /api/v1/containers/{name}/rollback`.
    RollBackContainer,
}

impl Route {
    /// Every route, with its method and path template.
    pub const ALL: [(Route, &'static str, &'static str); 8] = [
        (Route::Page, "GET", "/"),
        (Route::Status, "GET", "/api/v1/status"),
        (Route::Runs, "GET", "/api/v1/runs"),
        (Route::StartRun, "POST", "/api/v1/runs"),
        (Route::Run, "GET", "/api/v1/runs/{id}"),
        (Route::Updates, "GET", "/api/v1/updates"),
        (
            Route::UpdateContainer,
            "POST",
            "/api/v1/containers/{name}/update",
        ),
        (
            Route::RollBackContainer,
            "POST",
            "/api/v1/containers/{name}/rollback",
        ),
    ];
}

/// What a request's method and path reach.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// A route, with the path's parameter (`{id}`, `{name}`), percent-decoded.
    Route(Route, Option<String>),
    /// The path exists, with other methods (these).
    WrongMethod(Vec<&'static str>),
    /// No such path.
    Nothing,
}

/// Matches `method` and `path` (without its query) against [`Route::ALL`].
pub fn find(method: &str, path: &str) -> Found {
    let mut methods = Vec::new();
    for (route, m, template) in Route::ALL {
        let Some(Fit(param)) = matches(template, path) else {
            continue;
        };
        if m == method {
            return Found::Route(route, param);
        }
        methods.push(m);
    }
    if methods.is_empty() {
        Found::Nothing
    } else {
        Found::WrongMethod(methods)
    }
}

/// How a path fits a template: with the value of its `{...}` segment, if it has one.
struct Fit(Option<String>);

/// `Some` when `path` fits `template`; a `{...}` segment takes one non-empty segment.
fn matches(template: &str, path: &str) -> Option<Fit> {
    let mut want = template.split('/');
    let mut have = path.split('/');
    let mut param = None;
    loop {
        match (want.next(), have.next()) {
            (None, None) => return Some(Fit(param)),
            (Some(w), Some(h)) if w.starts_with('{') && w.ends_with('}') => {
                if h.is_empty() {
                    return None;
                }
                let decoded = percent_encoding::percent_decode_str(h)
                    .decode_utf8()
                    .ok()?
                    .into_owned();
                param = Some(decoded);
            }
            (Some(w), Some(h)) if w == h => {}
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn requests_find_their_routes() {
        let table = [
            ("GET", "/", Found::Route(Route::Page, None)),
            ("GET", "/api/v1/status", Found::Route(Route::Status, None)),
            ("POST", "/api/v1/runs", Found::Route(Route::StartRun, None)),
            ("GET", "/api/v1/runs", Found::Route(Route::Runs, None)),
            (
                "GET",
                "/api/v1/runs/20261129T1-ab",
                Found::Route(Route::Run, Some("20261129T1-ab".to_owned())),
            ),
            (
                "POST",
                "/api/v1/containers/my%20web/update",
                Found::Route(Route::UpdateContainer, Some("my web".to_owned())),
            ),
            (
                "DELETE",
                "/api/v1/runs",
                Found::WrongMethod(vec!["GET", "POST"]),
            ),
            (
                "GET",
                "/api/v1/containers/web/update",
                Found::WrongMethod(vec!["POST"]),
            ),
            ("GET", "/api/v1/runs/", Found::Nothing),
            ("GET", "/api/v1/runs/a/b", Found::Nothing),
            ("GET", "/api/v2/status", Found::Nothing),
            ("GET", "/api/v1/status/", Found::Nothing),
        ];
        for (method, path, expected) in table {
            assert_eq!(find(method, path), expected, "{method} {path}");
        }
    }

    /// The OpenAPI document describes exactly the routes served: every (method, path) of
    /// `docs/api.yaml` is in [`Route::ALL`] and the other way round.
    #[test]
    fn the_openapi_document_has_exactly_the_routes_served() {
        let doc: serde_json::Value =
            serde_saphyr::from_str(include_str!("../../../../docs/api.yaml")).unwrap();
        assert_eq!(doc["openapi"].as_str().map(|v| &v[..4]), Some("3.1."));
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if ["get", "post", "put", "patch", "delete", "head", "options"]
                    .contains(&method.as_str())
                {
                    documented.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        let served: BTreeSet<(String, String)> = Route::ALL
            .iter()
            .map(|(_, m, p)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        assert_eq!(documented, served);
    }
}
