//! swab's reconstruction against the real Compose binary.
//!
//! Behind the `compose-tests` feature, in a `with_daemon` module so that
//! scripts/test.sh runs it inside the engine environment, where
//! `SWAB_TEST_COMPOSE` names the `docker-compose` binary (empty on engines
//! without one). `docker-compose config --hash` needs no daemon; DOCKER_HOST
//! points nowhere to make sure of that.

#[cfg(feature = "compose-tests")]
mod with_daemon {
    use std::path::Path;
    use std::process::Command;

    use swab_compose::{ComposeFile, Project, service_hash, service_json, set_image};

    /// Compose files: (name, files in `-f` order). Each supported key appears
    /// somewhere, and so do several unsupported ones.
    const CORPUS: &[(&str, &[&str])] = &[
        ("minimal", &["services:\n  web:\n    image: nginx:1.25.1\n"]),
        (
            "verified",
            &[
                "services:\n  app:\n    image: alpine:3.19\n    command: sleep 300\n    network_mode: none\n    labels:\n      a: b\n    environment: [FOO=bar]\n    volumes: [data:/data]\n    restart: unless-stopped\nvolumes:\n  data:\n",
            ],
        ),
        (
            "commands",
            &[
                "services:\n  a:\n    image: alpine\n    command: sh -c 'echo \"hi there\"; sleep 3' x\\ y\n  b:\n    image: alpine\n    command: [\"sleep\", \"300\"]\n    entrypoint: /bin/sh -c\n  c:\n    image: alpine\n    command: []\n    entrypoint: \"\"\n  d:\n    image: alpine\n    command: 'a\"b c\"d \"\" '''' e\\\\f'\n",
            ],
        ),
        (
            "environment",
            &[
                "services:\n  list:\n    image: alpine\n    environment:\n      - FOO=bar\n      - EMPTY=\n      - NOVAL\n      - EQ=a=b\n      - 'Q=it''s <ok> & fine'\n  map:\n    image: alpine\n    environment:\n      A: 1\n      B: true\n      C:\n      D: \"x y\"\n      E: 'false'\n      F: -5\n",
            ],
        ),
        (
            "labels",
            &[
                "services:\n  list:\n    image: alpine\n    labels: [\"a=b\", \"c\", \"d=e=f\", \"com.example.x=\\u2028\\b\"]\n  map:\n    image: alpine\n    labels:\n      z: last\n      a: first\n      n: 42\n      t: true\n      e:\n      Upper: case\n",
            ],
        ),
        (
            "strings",
            &[
                "services:\n  s:\n    image: \"redis:7\"\n    container_name: my-redis\n    hostname: cache\n    domainname: example.org\n    user: \"999:999\"\n    working_dir: /data\n    restart: always\n    stop_signal: SIGTERM\n    ipc: private\n    pid: host\n",
            ],
        ),
        (
            "restart-no",
            &[
                "services:\n  s:\n    image: 'alpine:3'\n    restart: \"no\"\n  t:\n    image: alpine\n    restart: on-failure:3\n",
            ],
        ),
        (
            "durations",
            &[
                "services:\n  a:\n    image: alpine\n    stop_grace_period: 1m30s\n  b:\n    image: alpine\n    stop_grace_period: 90s\n  c:\n    image: alpine\n    stop_grace_period: 1.5s\n  d:\n    image: alpine\n    stop_grace_period: 500ms\n  e:\n    image: alpine\n    stop_grace_period: 2h\n  f:\n    image: alpine\n    stop_grace_period: 1d\n",
            ],
        ),
        (
            "network-mode",
            &[
                "services:\n  none:\n    image: alpine\n    network_mode: none\n  host:\n    image: alpine\n    network_mode: host\n  peer:\n    image: alpine\n    network_mode: service:host\n",
            ],
        ),
        (
            "networks",
            &[
                "services:\n  list:\n    image: alpine\n    networks: [front, back]\n  map:\n    image: alpine\n    networks:\n      front:\n        aliases: [x, y]\n        priority: 10\n      back:\n  empty:\n    image: alpine\n    networks: {}\n  addr:\n    image: alpine\n    networks:\n      fixed:\n        ipv4_address: 172.28.0.5\n  emptymap:\n    image: alpine\n    networks:\n      front: {}\nnetworks:\n  front:\n  back:\n  fixed:\n    ipam:\n      config:\n        - subnet: 172.28.0.0/16\n",
            ],
        ),
        (
            "ports-short",
            &[
                "services:\n  p:\n    image: nginx\n    ports:\n      - \"8080:80\"\n      - 443\n      - \"127.0.0.1:9000-9001:9000-9001/udp\"\n      - \"80\"\n      - \"8443:443/tcp\"\n      - \"[::1]:8082:82\"\n      - \"9998-9999\"\n      - \"127.0.0.1::5000\"\n      - \"10000-10001:10000-10001\"\n      - \"7000-7010:7000\"\n",
            ],
        ),
        (
            "ports-long",
            &[
                "services:\n  p:\n    image: nginx\n    ports:\n      - target: 80\n        published: \"8081\"\n        protocol: tcp\n        mode: host\n      - target: 90\n      - target: 91\n        published: 9191\n        host_ip: 0.0.0.0\n        name: web\n        app_protocol: http\n      - target: 53\n        protocol: udp\n",
            ],
        ),
        (
            "volumes-short",
            &[
                "services:\n  v:\n    image: alpine\n    volumes:\n      - data:/data\n      - data:/ro:ro\n      - ./rel:/rel:ro\n      - ../up:/up\n      - /abs:/abs\n      - ./y:/y:z\n      - ./Z:/Z:Z,ro\n      - data2:/d2:nocopy\n      - .:/dot\n      - /anon\n      - ./p:/p:rshared\n      - ./rw:/rw:rw\nvolumes:\n  data:\n  data2:\n",
            ],
        ),
        (
            "volumes-long",
            &[
                "services:\n  v:\n    image: alpine\n    volumes:\n      - type: bind\n        source: ../up\n        target: /up\n      - type: volume\n        source: data\n        target: /long\n        read_only: true\n      - type: tmpfs\n        target: /t\n        tmpfs:\n          size: 1000\n      - type: bind\n        source: ./x\n        target: /x\n        bind:\n          propagation: rprivate\n          create_host_path: true\n      - type: volume\n        source: data\n        target: /nc\n        volume:\n          nocopy: true\n          subpath: sub\n      - type: tmpfs\n        target: /t2\n        tmpfs:\n          size: 64m\n          mode: 1777\nvolumes:\n  data:\n",
            ],
        ),
        (
            "healthcheck",
            &[
                "services:\n  shell:\n    image: nginx\n    healthcheck:\n      test: curl -f http://localhost\n      interval: 30s\n      timeout: 10s\n      retries: 3\n      start_period: 5s\n      start_interval: 1s\n  list:\n    image: nginx\n    healthcheck:\n      test: [\"CMD\", \"true\"]\n      disable: false\n  off:\n    image: nginx\n    healthcheck:\n      disable: true\n  none:\n    image: nginx\n    healthcheck:\n      test: [\"NONE\"]\n  zero:\n    image: nginx\n    healthcheck:\n      retries: 0\n",
            ],
        ),
        (
            "depends",
            &[
                "services:\n  db:\n    image: postgres:16\n  web:\n    image: nginx\n    depends_on: [db]\n  worker:\n    image: nginx\n    depends_on:\n      db:\n        condition: service_started\n        restart: true\n      web:\n        condition: service_started\n        required: false\n",
            ],
        ),
        (
            "booleans",
            &[
                "services:\n  b:\n    image: alpine\n    tty: true\n    stdin_open: true\n    init: true\n    read_only: true\n    privileged: true\n  f:\n    image: alpine\n    tty: false\n    stdin_open: false\n    init: false\n    read_only: false\n    privileged: false\n",
            ],
        ),
        (
            "lists",
            &[
                "services:\n  l:\n    image: alpine\n    cap_add: [NET_ADMIN, SYS_TIME]\n    cap_drop: [ALL]\n    security_opt: [no-new-privileges:true]\n    group_add: [audio]\n    dns: 8.8.8.8\n    dns_search: example.com\n    dns_opt: [use-vc]\n    tmpfs: /run\n  m:\n    image: alpine\n    dns: [1.1.1.1, 8.8.8.8]\n    dns_search: [a.example, b.example]\n    tmpfs: [/a, /b:size=1000]\n",
            ],
        ),
        (
            "extra-hosts",
            &[
                "services:\n  list:\n    image: alpine\n    extra_hosts:\n      - \"somehost:162.242.195.82\"\n      - \"other=1.2.3.4\"\n      - \"v6=[::1]\"\n      - \"multi=1.1.1.1,2.2.2.2\"\n  map:\n    image: alpine\n    extra_hosts:\n      h1: 1.2.3.4\n      h2: [\"5.6.7.8\", \"::1\"]\n",
            ],
        ),
        (
            "ulimits",
            &[
                "services:\n  u:\n    image: alpine\n    ulimits:\n      nproc: 65535\n      core: 0\n      nofile:\n        soft: 20000\n        hard: 40000\n",
            ],
        ),
        (
            "logging",
            &[
                "services:\n  l:\n    image: alpine\n    logging:\n      driver: json-file\n      options:\n        max-size: \"10m\"\n        max-file: 3\n  d:\n    image: alpine\n    logging:\n      driver: local\n  o:\n    image: alpine\n    logging:\n      options:\n        tag: x\n",
            ],
        ),
        (
            "deploy",
            &[
                "services:\n  r:\n    image: alpine\n    deploy:\n      replicas: 2\n  l:\n    image: alpine\n    deploy:\n      resources:\n        limits:\n          cpus: '0.5'\n          memory: 50M\n          pids: 100\n        reservations:\n          memory: 10m\n  i:\n    image: alpine\n    deploy:\n      resources:\n        limits:\n          cpus: 2\n          memory: 1g\n  e:\n    image: alpine\n    deploy: {}\n  f:\n    image: alpine\n    deploy:\n      resources:\n        limits:\n          cpus: 0.25\n",
            ],
        ),
        (
            "memory",
            &[
                "services:\n  m:\n    image: alpine\n    mem_limit: 512m\n    shm_size: 64M\n  n:\n    image: alpine\n    mem_limit: 1073741824\n",
            ],
        ),
        (
            "top-level",
            &[
                "version: \"3.8\"\nname: named-project\nx-common:\n  note: ignored\nservices:\n  web:\n    image: nginx:1.25.1\n    x-swab: extension\n    profiles: [web]\n    pull_policy: always\n",
            ],
        ),
        (
            "dollar-escape",
            &[
                "services:\n  d:\n    image: alpine\n    command: echo $$HOME\n    environment:\n      PRICE: 5$$\n    labels: [\"cost=$$1\"]\n",
            ],
        ),
        (
            "html-escapes",
            &[
                "services:\n  h:\n    image: alpine\n    command: [\"sh\", \"-c\", \"a && b > c < d\"]\n    labels:\n      html: \"<b>&amp;</b>\"\n      unicode: \"caf\u{e9} \u{2603}\"\n",
            ],
        ),
        (
            "crlf-comments",
            &[
                "# a comment\r\nservices:\r\n  # the web service\r\n  web:\r\n    image: nginx:1.25.1  # pinned\r\n    command: [\"nginx\", \"-g\", \"daemon off;\"]\r\n    ports:\r\n      - \"80:80\"\r\n",
            ],
        ),
        (
            "indent-4",
            &[
                "services:\n    web:\n        image: \"nginx:1.25.1\"\n        restart: always\n        environment:\n            A: b\n    db:\n        image: 'postgres:16'\n",
            ],
        ),
        (
            "many-services",
            &[
                "services:\n  a:\n    image: busybox\n    command: [\"true\"]\n  b:\n    image: busybox:1.36\n    command: echo b\n  c:\n    image: busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000\n  d:\n    image: registry.example.com:5000/team/app:v1.2.3\n",
            ],
        ),
        (
            "two-files",
            &[
                "services:\n  web:\n    image: nginx:1.25.1\n",
                "services:\n  db:\n    image: postgres:16\n    environment: [POSTGRES_PASSWORD=x]\n",
            ],
        ),
        // Outside the subset: each must be reported, never hashed.
        (
            "override",
            &[
                "services:\n  web:\n    image: nginx:1\n",
                "services:\n  web:\n    tty: true\n",
            ],
        ),
        (
            "interpolation",
            &[
                "services:\n  i:\n    image: alpine\n    environment:\n      A: ${HOME_X:-fallback}\n  j:\n    image: alpine\n    command: echo $${X} ${Y-z}\n",
            ],
        ),
        (
            "build",
            &["services:\n  b:\n    image: myapp:1\n    build: .\n"],
        ),
        (
            "anchors",
            &[
                "x-env: &env\n  A: b\nx-base: &base\n  image: alpine\n  tty: true\nservices:\n  a:\n    image: alpine\n    environment: *env\n  m:\n    <<: *base\n",
            ],
        ),
        (
            "and-and",
            &["services:\n  s:\n    image: alpine\n    command: echo a && echo b\n"],
        ),
        (
            "numbers",
            &[
                "services:\n  n:\n    image: alpine\n    environment:\n      OCT: 017\n      HEX: 0x10\n      F: 1.50\n",
            ],
        ),
        (
            "unknown-key",
            &[
                "services:\n  u:\n    image: alpine\n    cpu_shares: 512\n    sysctls:\n      net.core.somaxconn: 1024\n",
            ],
        ),
        (
            "extends",
            &["services:\n  base:\n    image: alpine\n    tty: true\n  e:\n    extends: base\n"],
        ),
    ];

    #[test]
    fn hashes_match_compose() {
        let compose = std::env::var("SWAB_TEST_COMPOSE").unwrap_or_default();
        if compose.is_empty() {
            swab_testkit::skip(
                "swab_compose::with_daemon::hashes_match_compose",
                "this engine has no docker-compose (SWAB_TEST_COMPOSE is empty)",
            );
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let (mut total, mut supported, mut matched) = (0, 0, 0);
        let mut mismatches = Vec::new();
        let mut unsupported = Vec::new();
        let mut edits = 0;
        for (name, texts) in CORPUS {
            let dir = root.path().join(name);
            std::fs::create_dir(&dir).unwrap();
            let names: Vec<String> = (0..texts.len())
                .map(|i| format!("compose-{i}.yaml"))
                .collect();
            for (file, text) in names.iter().zip(texts.iter()) {
                std::fs::write(dir.join(file), text).unwrap();
            }
            let config = run(
                &compose,
                &dir,
                name,
                &names,
                &["config", "--format", "json"],
            );
            let model: serde_json::Value = serde_json::from_str(&config).unwrap();
            let working_dir = dir.to_str().unwrap();
            let files: Vec<ComposeFile<'_>> = names
                .iter()
                .zip(texts.iter())
                .map(|(path, text)| ComposeFile { path, text })
                .collect();
            let project = Project {
                name,
                working_dir,
                files: &files,
            };
            for line in run(&compose, &dir, name, &names, &["config", "--hash", "*"]).lines() {
                let (service, expected) = line.split_once(' ').unwrap();
                total += 1;
                let image = model["services"][service]["image"].as_str().unwrap();
                match service_hash(&project, service, image) {
                    Ok(hash) => {
                        supported += 1;
                        if hash == expected {
                            matched += 1;
                            edits += check_edit(&compose, &dir, name, &files, service, image);
                        } else {
                            let json = service_json(&project, service, image).unwrap();
                            let theirs =
                                serde_json::to_string(&model["services"][service]).unwrap();
                            mismatches.push(format!(
                                "{name}/{service}:\n  swab:    {json}\n  compose: {theirs}"
                            ));
                        }
                    }
                    Err(error) => unsupported.push(format!("{name}/{service}: {error}")),
                }
            }
        }
        eprintln!(
            "corpus: {total} services, {supported} supported, {matched} matched, {} unsupported, {edits} edits checked",
            unsupported.len()
        );
        for line in &unsupported {
            eprintln!("  unsupported: {line}");
        }
        assert!(
            mismatches.is_empty(),
            "hash mismatches:\n{}",
            mismatches.join("\n")
        );
        assert!(
            supported * 5 >= total * 4,
            "only {supported} of {total} services supported"
        );
        // Every unsupported-case file above must stay unsupported.
        for name in [
            "override",
            "interpolation",
            "build",
            "anchors",
            "and-and",
            "numbers",
            "unknown-key",
            "extends",
        ] {
            assert!(
                unsupported
                    .iter()
                    .any(|u| u.starts_with(&format!("{name}/"))),
                "{name} was not reported as unsupported"
            );
        }
        assert!(edits >= 10, "only {edits} image edits were checked");
    }

    /// Moves `service` to a new tag in the file that has its `image:` and
    /// checks that Compose accepts the edit and hashes it as swab predicts.
    fn check_edit(
        compose: &str,
        dir: &Path,
        name: &str,
        files: &[ComposeFile<'_>],
        service: &str,
        image: &str,
    ) -> usize {
        let new = if image.contains('@') {
            return 0;
        } else {
            format!("{image}-swab2")
        };
        let mut edited: Vec<String> = files.iter().map(|f| f.text.to_owned()).collect();
        let mut done = false;
        for text in &mut edited {
            match set_image(text, service, image, &new) {
                Ok(result) => {
                    *text = result;
                    done = true;
                }
                Err(swab_compose::EditError::ServiceNotFound(_)) => {}
                Err(error) => panic!("{name}/{service}: {error}"),
            }
        }
        assert!(done, "{name}/{service}: no file had its image");
        let names: Vec<String> = (0..edited.len())
            .map(|i| format!("edited-{i}.yaml"))
            .collect();
        for (file, text) in names.iter().zip(&edited) {
            std::fs::write(dir.join(file), text).unwrap();
        }
        let files: Vec<ComposeFile<'_>> = names
            .iter()
            .zip(&edited)
            .map(|(path, text)| ComposeFile { path, text })
            .collect();
        let project = Project {
            name,
            working_dir: dir.to_str().unwrap(),
            files: &files,
        };
        let ours = service_hash(&project, service, &new).unwrap();
        let theirs = run(compose, dir, name, &names, &["config", "--hash", service]);
        assert_eq!(
            theirs.trim(),
            format!("{service} {ours}"),
            "{name}/{service} after set_image"
        );
        1
    }

    fn run(compose: &str, dir: &Path, project: &str, files: &[String], args: &[&str]) -> String {
        let mut command = Command::new(compose);
        command
            .env_clear()
            .env("DOCKER_HOST", "unix:///nonexistent")
            .env("PATH", "/usr/bin:/bin")
            .current_dir(dir)
            .args(["-p", project]);
        for file in files {
            command.arg("-f").arg(dir.join(file));
        }
        let output = command.args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{project}: compose {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }
}
