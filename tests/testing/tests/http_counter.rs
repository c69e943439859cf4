//! `HttpApp` serving the example HTTP counter (`tests/http-counter`: `POST` increments the count
//! under `requests` in bucket "" and answers it, `GET` answers it) through `wasmtime-wasi-http`,
//! with the control interface around the requests.

mod common;

use common::{grant, on_fs, plugged, seeded};
use keyvalue_virt_artifacts::guests::HTTP_COUNTER;
use keyvalue_virt_compose::config::Trace;
use keyvalue_virt_testing::{Config, Error, Fault, HttpApp, Op, Outcome, Request};

fn http_counter(config: &Config) -> HttpApp {
    HttpApp::load(&plugged(HTTP_COUNTER, config)).expect("the HTTP counter loads")
}

/// The check: a `POST` under an injected `increment` failure answers an error and the
/// count, read through the control interface, is unchanged; once the fault is cleared a `POST`
/// counts again. With the memory backend the count lives in the one instance every request
/// goes to.
#[test]
fn a_post_under_an_increment_fault_answers_an_error_and_the_count_stays() {
    let mut app = http_counter(&Config::default());
    app.set("", "requests", b"41").unwrap();

    let response = app.request(Request::post("/", "")).unwrap();
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, "42\n"),
        "{response}"
    );
    assert_eq!(response.header("content-type"), Some(&b"text/plain"[..]));
    let response = app.request(Request::post("/", "")).unwrap();
    assert_eq!(response.text(), "43\n", "{response}");
    app.assert_value("", "requests", Some(b"43")).unwrap();
    app.assert_called(Op::Increment, "", "requests", 2).unwrap();
    app.assert_count(Op::Set, 0).unwrap();

    app.clear_log().unwrap();
    app.add_fault(Fault::new(
        Op::Increment,
        Error::Other("disk on fire".into()),
    ))
    .unwrap();
    let response = app.request(Request::post("/", "")).unwrap();
    assert_eq!(
        (response.status, response.text().as_str()),
        (500, "key-value error: disk on fire\n"),
        "{response}"
    );
    app.assert_value("", "requests", Some(b"43")).unwrap();
    let calls = app.calls().unwrap();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!((calls[0].op, &calls[0].outcome), (Op::Open, &Outcome::Ok));
    assert_eq!(calls[1].op, Op::Increment);
    assert_eq!(
        calls[1].outcome,
        Outcome::Failed(Error::Other("disk on fire".into()))
    );
    let response = app.request(Request::get("/")).unwrap();
    assert_eq!(
        response.text(),
        "43\n",
        "a `get` is not faulted: {response}"
    );

    app.clear_faults().unwrap();
    let response = app.request(Request::post("/", "")).unwrap();
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, "44\n"),
        "{response}"
    );
    app.assert_value("", "requests", Some(b"44")).unwrap();
}

/// A fault on the `nth` call counts the calls of every request from when it was added; `reset`
/// goes back to the seeds; a failed expectation lists the handler's calls.
#[test]
fn the_nth_fault_spans_requests_and_reset_goes_back_to_the_seeds() {
    let mut app = http_counter(&seeded("requests", b"10", Config::default()));
    app.add_fault(Fault::new(Op::Increment, Error::AccessDenied).nth(2))
        .unwrap();
    let statuses: Vec<u16> = (0..3)
        .map(|_| app.request(Request::post("/", "")).unwrap().status)
        .collect();
    assert_eq!(statuses, [200, 500, 200]);
    app.assert_value("", "requests", Some(b"12")).unwrap();

    let message = app
        .assert_called(Op::Increment, "", "requests", 2)
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        "expected 2 `increment` of `requests` in bucket `\"\"`, saw 3; calls: open `\"\"`, \
         increment `requests` -> 11, open `\"\"`, increment `requests` -> error access-denied, \
         open `\"\"`, increment `requests` -> 12"
    );

    app.reset().unwrap();
    assert_eq!(app.calls().unwrap(), []);
    let response = app.request(Request::get("/")).unwrap();
    assert_eq!(response.text(), "10\n", "{response}");
    let response = app.request(Request::new("DELETE", "/")).unwrap();
    assert_eq!(response.status, 405, "{response}");
}

/// With `--trace` the trace's lines of one request come back with its response.
#[test]
fn the_trace_of_a_request_comes_with_its_response() {
    let mut app = http_counter(&Config {
        trace: Trace::Text,
        ..Config::default()
    });
    let response = app.request(Request::post("/", "")).unwrap();
    assert_eq!(
        response.stderr,
        "keyvalue-virt: open bucket=\"\" -> ok\nkeyvalue-virt: increment bucket=\"\" \
         key=\"requests\" -> ok 1\n"
    );
    let response = app.request(Request::get("/")).unwrap();
    assert_eq!(
        response.stderr,
        "keyvalue-virt: open bucket=\"\" -> ok\nkeyvalue-virt: get bucket=\"\" key=\"requests\" \
         -> ok (1 byte)\n"
    );
}

/// With the fs backend the handler and the control interface share the store directory.
#[test]
fn the_fs_backend_serves_requests_and_control_on_one_directory() {
    let dir = tempfile::tempdir().unwrap();
    let plugged = plugged(HTTP_COUNTER, &on_fs(Config::default()));
    let mut app = HttpApp::load_with(&plugged, grant(dir.path())).unwrap();
    app.set("", "requests", b"7").unwrap();
    let response = app.request(Request::post("/", "")).unwrap();
    assert_eq!(response.text(), "8\n", "{response}");
    app.assert_value("", "requests", Some(b"8")).unwrap();
}
