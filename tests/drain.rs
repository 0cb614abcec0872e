//! Graceful drain: on SIGTERM the webhook fails /readyz at once, keeps
//! serving for --drain-period while endpoints converge, finishes in-flight
//! reviews and exits 0 — no review sent to it in that time fails.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::Env;
use common::webhook::{Webhook, fixture, signed_registry};

#[test]
fn sigterm_under_load_fails_no_review() {
    let env = Env::new();
    let reg = signed_registry(&env);
    let trust = env.path("trust");
    let mut wh = Webhook::start(
        &trust,
        &[
            "--insecure-registry",
            &reg.host,
            "--deadline",
            "3s",
            "--drain-period",
            "2s",
        ],
    );
    wh.wait_ready();
    let review = serde_json::to_vec(&fixture("pod-create.json", &reg.host)).unwrap();
    let url = wh.url("/validate");
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let errors = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    // 8 clients on keep-alive connections (HTTP/1.1 and HTTP/2 as negotiated).
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let client = wh.client();
            let (url, review, stop) = (url.clone(), review.clone(), stop.clone());
            let (ok, failed, errors) = (ok.clone(), failed.clone(), errors.clone());
            async move {
                while !stop.load(Ordering::SeqCst) {
                    let sent = client.post(&url).body(review.clone()).send().await;
                    let answer = match sent {
                        Ok(r) if r.status() == 200 => r.text().await.map_err(|e| e.to_string()),
                        Ok(r) => Err(format!("status {}", r.status())),
                        Err(e) => Err(format!("{e:?}")),
                    };
                    match answer {
                        Ok(body) if body.contains("\"allowed\":true") => {
                            ok.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(body) => errors.lock().unwrap().push(body),
                        Err(e) => {
                            failed.fetch_add(1, Ordering::SeqCst);
                            errors.lock().unwrap().push(e);
                        }
                    }
                }
            }
        })
        .collect();
    let load = std::thread::spawn({
        let handle = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        move || handle.block_on(futures_util::future::join_all(workers))
    });
    std::thread::sleep(Duration::from_millis(700));
    let before = ok.load(Ordering::SeqCst);
    assert!(
        before > 0,
        "no load before SIGTERM: {:?}",
        errors.lock().unwrap()
    );
    let term = Instant::now();
    wh.terminate();
    // Not ready at once…
    let mut unready_after = None;
    while term.elapsed() < Duration::from_secs(1) {
        if wh.get("/readyz").0 == 503 {
            unready_after = Some(term.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let unready_after = unready_after.expect("/readyz still 200 a second after SIGTERM");
    // …still serving while "endpoints converge" (the clients stop 1 s in,
    // within the 2 s drain period)…
    std::thread::sleep(Duration::from_millis(1000));
    let during = ok.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    load.join().unwrap();
    // …then exits 0 once in-flight reviews are done.
    let status = wh
        .wait_exit(Duration::from_secs(8))
        .expect("the webhook did not exit after the drain period");
    assert!(status.success(), "exit status {status}: {}", wh.logs());
    let exited = term.elapsed();
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "reviews failed during the drain: {:?}",
        errors.lock().unwrap()
    );
    assert!(
        errors.lock().unwrap().is_empty(),
        "{:?}",
        errors.lock().unwrap()
    );
    assert!(
        during > before,
        "no review served after SIGTERM ({before} → {during})"
    );
    assert!(
        unready_after < Duration::from_millis(500),
        "{unready_after:?}"
    );
    assert!(
        exited >= Duration::from_secs(2),
        "exited before the drain period: {exited:?}"
    );
    assert!(wh.logs().contains("SIGTERM"), "{}", wh.logs());
}
