use std::time::Duration;

use swab_docker::endpoint::parse_host;
use swab_docker::{ClientOptions, Docker};
use swab_engine::cancel::Cancel;
use swab_engine::lease::{Lease, LeaseError, LeaseOptions};
use swab_testkit::{env, unique};

fn docker() -> Docker {
    let endpoint = parse_host(&env().docker_host, "SWAB_TEST_DOCKER_HOST", None).unwrap();
    Docker::connect(&endpoint, &ClientOptions::default()).unwrap()
}

fn options(name: &str, holder: &str, lease: Duration) -> LeaseOptions {
    LeaseOptions {
        name: name.to_owned(),
        lease,
        wait: Duration::ZERO,
        holder: holder.to_owned(),
    }
}

/// How many containers (the lock and its beats) carry the lock's name as a prefix.
fn lock_objects(name: &str) -> usize {
    env()
        .cli(&["ps", "-a", "-q", "--filter", &format!("name=^/{name}")])
        .lines()
        .count()
}

#[tokio::test]
async fn of_many_takers_at_once_exactly_one_gets_the_lock() {
    let name = unique("lease-race");
    let docker = docker();
    let takers: Vec<_> = (0..8)
        .map(|i| {
            let docker = docker.clone();
            let options = options(&name, &format!("taker {i}"), Duration::from_secs(60));
            tokio::spawn(async move { Lease::acquire(&docker, &options, Cancel::new()).await })
        })
        .collect();
    let mut held = Vec::new();
    let mut busy = 0;
    for taker in takers {
        match taker.await.unwrap() {
            Ok(lease) => held.push(lease),
            Err(LeaseError::Busy { holder, .. }) => {
                assert!(holder.starts_with("taker "), "{holder}");
                busy += 1;
            }
            Err(other) => panic!("unexpected: {other:#?}"),
        }
    }
    assert_eq!((held.len(), busy), (1, 7), "exactly one holder");
    let again = Lease::acquire(
        &docker,
        &options(&name, "late", Duration::from_secs(60)),
        Cancel::new(),
    )
    .await;
    assert!(matches!(again, Err(LeaseError::Busy { .. })), "{again:?}");
    held.pop().unwrap().release().await;
    assert_eq!(lock_objects(&name), 0, "release removes the lock");
    let next = Lease::acquire(
        &docker,
        &options(&name, "next", Duration::from_secs(60)),
        Cancel::new(),
    )
    .await
    .expect("free after the release");
    next.release().await;
}

#[tokio::test]
async fn a_renewed_lease_outlives_its_first_term_and_a_waiter_gets_it_on_release() {
    let name = unique("lease-renew");
    let docker = docker();
    let first = Lease::acquire(
        &docker,
        &options(&name, "first", Duration::from_secs(3)),
        Cancel::new(),
    )
    .await
    .unwrap();
    // Two lease terms later the beats have kept it.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let refused = Lease::acquire(
        &docker,
        &options(&name, "second", Duration::from_secs(3)),
        Cancel::new(),
    )
    .await;
    assert!(
        matches!(&refused, Err(LeaseError::Busy { holder, .. }) if holder == "first"),
        "{refused:?}"
    );
    assert!(lock_objects(&name) >= 2, "the lock and a beat");
    let waiter = tokio::spawn({
        let docker = docker.clone();
        let mut options = options(&name, "waiter", Duration::from_secs(3));
        options.wait = Duration::from_secs(30);
        async move { Lease::acquire(&docker, &options, Cancel::new()).await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    first.release().await;
    let waiter = waiter.await.unwrap().expect("the waiter gets it");
    waiter.release().await;
    assert_eq!(lock_objects(&name), 0);
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_its_holder_learns_it_lost() {
    let name = unique("lease-expired");
    let docker = docker();
    // A holder that died on another machine: a lock nobody renews, with a 1 s lease.
    env().cli(&[
        "create",
        "--name",
        &name,
        "--label",
        "swab.lock=lock",
        "--label",
        "swab.lock.holder=swab on elsewhere pid 1",
        "--label",
        "swab.lock.lease=1",
        &env().image,
        "true",
    ]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let lost = Cancel::new();
    // A 30 s lease: the first renewal is 10 s away, so the takeover below happens before
    // it and cannot race with the holder making its removed lock again.
    let taken = Lease::acquire(
        &docker,
        &options(&name, "taker", Duration::from_secs(30)),
        lost.clone(),
    )
    .await
    .expect("an expired lease is taken over");
    assert_eq!(lock_objects(&name), 1);

    // Someone removes the lock under the holder and takes it (as a takeover after a stall
    // would): at its next renewal the holder finds the lock is not its own and sets `lost`.
    env().cli(&["rm", &name]);
    let thief = Lease::acquire(
        &docker,
        &options(&name, "thief", Duration::from_secs(60)),
        Cancel::new(),
    )
    .await
    .unwrap();
    tokio::time::timeout(Duration::from_secs(20), lost.cancelled())
        .await
        .expect("the old holder learns it lost the lock");
    assert_eq!(
        lost.why(),
        "stopped: another swab took the lock on the daemon"
    );
    // Releasing a lost lock never removes the new holder's.
    taken.release().await;
    let refused = Lease::acquire(
        &docker,
        &options(&name, "late", Duration::from_secs(60)),
        Cancel::new(),
    )
    .await;
    assert!(
        matches!(&refused, Err(LeaseError::Busy { holder, .. }) if holder == "thief"),
        "{refused:?}"
    );
    thief.release().await;
}

#[tokio::test]
async fn a_lock_removed_while_held_is_made_again_and_kept() {
    let name = unique("lease-pruned");
    let docker = docker();
    let lost = Cancel::new();
    let held = Lease::acquire(
        &docker,
        &options(&name, "holder", Duration::from_secs(3)),
        lost.clone(),
    )
    .await
    .unwrap();
    let first = held.id();
    // What `docker container prune` does to a never-started container.
    env().cli(&["rm", &name]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!lost.is_cancelled(), "nobody else took it: the run goes on");
    let now = held.id();
    assert_ne!(now, first, "made again");
    let refused = Lease::acquire(
        &docker,
        &options(&name, "other", Duration::from_secs(3)),
        Cancel::new(),
    )
    .await;
    assert!(
        matches!(&refused, Err(LeaseError::Busy { holder, .. }) if holder == "holder"),
        "{refused:?}"
    );
    held.release().await;
    assert_eq!(lock_objects(&name), 0);
}

#[tokio::test]
async fn a_container_that_swab_did_not_make_is_never_taken_for_the_lock() {
    let name = unique("lease-foreign");
    env().cli(&["create", "--name", &name, &env().image, "true"]);
    let err = Lease::acquire(
        &docker(),
        &options(&name, "me", Duration::from_secs(60)),
        Cancel::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LeaseError::Foreign { .. }), "{err:?}");
    assert!(err.to_string().contains("swab did not make"), "{err}");
    env().cli(&["rm", &name]);
}
