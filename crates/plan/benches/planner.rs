//! Planner micro-benchmark: `plan()` over a synthetic 100,000-object snapshot.
//!
//!     cargo bench -p swab-plan --bench planner
//!
//! Prints min/median/max of 15 timed runs after 3 warm-ups, and the process's peak RSS
//! (VmHWM, which includes building the snapshot). Targets: < 200 ms and < 200 MB.
//! Not a test: numbers go to BENCHMARKS.md.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use swab_plan::memory::LastUsed;
use swab_plan::plan::plan;
use swab_plan::snapshot::{Container, Image, Snapshot};
use swab_plan::testing::{container, image, snapshot};

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
    let at = |secs: u64| now - Duration::from_secs(secs);
    let images = (0..IMAGES).map(|i| {
        let repo = format!("registry.example.com/team-{}/app-{}", i % 50, i % 2000);
        let tags: Vec<String> = match i % 10 {
            0 => Vec::new(),
            1 => vec![format!("{repo}:v{i}"), format!("{repo}:latest-{i}")],
            _ => vec![format!("{repo}:v{i}")],
        };
        let mut image = image(&format!("{i:064x}"))
            .tags(&tags)
            .created(at(3600 * (i as u64 % 5000)))
            .last_tagged((i % 3 == 0).then(|| at(86_400)))
            .size(50_000_000)
            .unique_size(10_000_000);
        if i % 7 == 0 && i > 0 {
            image = image.parent(&format!("{:064x}", i - 1));
        }
        Image::from(image)
    });
    let states = ["running", "exited", "exited", "created", "dead", "paused"];
    let containers = (0..CONTAINERS).map(|i| {
        let reference = format!(
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
        let labels: &[(&str, &str)] = if i % 11 == 0 {
            &[("com.example.pinned", "1")]
        } else {
            &[]
        };
        Container::from(
            container(&name)
                .id(&format!("{i:064x}"))
                .image(&reference, &format!("{:064x}", (i * 7) % IMAGES))
                .state(states[i % states.len()])
                .created(at(86_400 * (i as u64 % 90)))
                .finished(at(3600 * (i as u64 % 100)))
                .started(at(3600 * (i as u64 % 200)))
                .labels(labels)
                .network_mode("default"),
        )
    });
    snapshot(containers, images)
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
            black_box(plan(
                &snapshot,
                &[*r],
                &set.protect,
                &LastUsed::default(),
                now,
            ));
            println!("rule {}: {:.1} ms", r.name, t.elapsed().as_secs_f64() * 1e3);
        }
        let t = Instant::now();
        black_box(swab_plan::plan::unmatched_protect_patterns(
            &snapshot,
            &set.protect,
        ));
        println!("protect check: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    }
    let last_used = LastUsed::default();
    let objects = snapshot.containers.len() + snapshot.images.len();

    for _ in 0..3 {
        black_box(plan(&snapshot, &rules, &set.protect, &last_used, now));
    }
    let mut times = Vec::new();
    let mut actions = 0;
    let mut kept = 0;
    for _ in 0..15 {
        let start = Instant::now();
        let p = black_box(plan(&snapshot, &rules, &set.protect, &last_used, now));
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
