//! Planner micro-benchmark: `plan()` over a synthetic 100,000-object snapshot.
//!
//!     cargo bench -p swab-engine --bench planner
//!
//! Prints min/median/max of 15 timed runs after 3 warm-ups, and the process's peak RSS
//! (VmHWM, which includes building the snapshot). Targets: < 200 ms and < 200 MB.
//! Not a test: numbers go to BENCHMARKS.md.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use swab_engine::plan::plan;
use swab_engine::snapshot::{Container, Image, Snapshot};
use swab_engine::state::State;

const CONTAINERS: usize = 60_000;
const IMAGES: usize = 40_000;

const RULES: &str = r#"
version: 1
protect:
  images: ["registry.example.com/prod/*", "postgres:*"]
  containers: ["db-*"]
  labels: ["com.example.keep"]
rules:
  - name: stopped
    action: prune-containers
    match:
      status: [exited, dead, created]
      older_than: 2h
      labels: ["!com.example.pinned"]
  - name: ci
    action: prune-containers
    match:
      names: ["ci-*"]
  - name: unused-images
    action: prune-images
    keep_latest: 3
    match:
      unused_for: 7d
  - name: dangling
    action: prune-images
    match:
      dangling: true
"#;

fn synthetic(now: SystemTime) -> Snapshot {
    let at = |secs: u64| Some(now - Duration::from_secs(secs));
    let images: Vec<Image> = (0..IMAGES)
        .map(|i| {
            let repo = format!("registry.example.com/team-{}/app-{}", i % 50, i % 2000);
            let tags: Vec<String> = match i % 10 {
                0 => Vec::new(),
                1 => vec![format!("{repo}:v{i}"), format!("{repo}:latest-{i}")],
                _ => vec![format!("{repo}:v{i}")],
            };
            Image {
                parent_id: (i % 7 == 0 && i > 0).then(|| format!("sha256:{:064x}", i - 1)),
                created: at(3600 * (i as u64 % 5000)),
                last_tagged: (i % 3 == 0)
                    .then(|| now - Duration::from_secs(86_400))
                    .flatten_time(),
                size: 50_000_000,
                unique_size: 10_000_000,
                ..Image::new(&format!("sha256:{i:064x}"), &tags, &[] as &[&str])
            }
        })
        .collect();
    let states = ["running", "exited", "exited", "created", "dead", "paused"];
    let containers: Vec<Container> = (0..CONTAINERS)
        .map(|i| {
            let mut labels = HashMap::new();
            if i % 11 == 0 {
                labels.insert("com.example.pinned".to_owned(), "1".to_owned());
            }
            let image = format!(
                "registry.example.com/team-{}/app-{}:v{}",
                i % 50,
                i % 2000,
                i
            );
            let name = if i % 5 == 0 {
                format!("ci-{i}")
            } else {
                format!("svc-{i}")
            };
            let image_id = format!("sha256:{:064x}", (i * 7) % IMAGES);
            Container {
                state: states[i % states.len()].to_owned(),
                created: at(86_400 * (i as u64 % 90)),
                finished_at: at(3600 * (i as u64 % 100)),
                started_at: at(3600 * (i as u64 % 200)),
                labels,
                network_mode: "default".to_owned(),
                ..Container::new(&format!("{i:064x}"), &name, &image_id, &image)
            }
        })
        .collect();
    Snapshot {
        containers,
        images,
        ..Snapshot::default()
    }
}

trait FlattenTime {
    fn flatten_time(self) -> Option<SystemTime>;
}

impl FlattenTime for Option<SystemTime> {
    fn flatten_time(self) -> Option<SystemTime> {
        self
    }
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let set = swab_rules::load_str("bench.yaml", RULES).expect("bench rules are valid");
    let rules: Vec<_> = set.rules.iter().collect();
    let snapshot = synthetic(now);
    if std::env::var_os("PER_RULE").is_some() {
        for r in &rules {
            let t = Instant::now();
            black_box(plan(&snapshot, &[*r], &set.protect, &State::new(), now));
            println!("rule {}: {:.1} ms", r.name, t.elapsed().as_secs_f64() * 1e3);
        }
        let t = Instant::now();
        black_box(swab_engine::plan::unmatched_protect_patterns(
            &snapshot,
            &set.protect,
        ));
        println!("protect check: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    }
    let state = State::new();
    let objects = snapshot.containers.len() + snapshot.images.len();

    for _ in 0..3 {
        black_box(plan(&snapshot, &rules, &set.protect, &state, now));
    }
    let mut times = Vec::new();
    let mut actions = 0;
    let mut kept = 0;
    for _ in 0..15 {
        let start = Instant::now();
        let p = black_box(plan(&snapshot, &rules, &set.protect, &state, now));
        times.push(start.elapsed());
        actions = p.actions.len();
        kept = p.kept.len();
    }
    times.sort();
    println!(
        "planner: {objects} objects ({CONTAINERS} containers, {IMAGES} images), {} rules -> {actions} actions, {kept} kept",
        rules.len()
    );
    println!(
        "plan() time over {} runs: min {:.1} ms, median {:.1} ms, max {:.1} ms",
        times.len(),
        times[0].as_secs_f64() * 1e3,
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
    println!(
        "peak RSS of the whole process (snapshot + plans): {:.1} MB",
        peak_rss_mb()
    );
}
