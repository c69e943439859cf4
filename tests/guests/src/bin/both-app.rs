//! A `wasi:cli` command that imports both drafts of `wasi:keyvalue` at once and checks that they
//! share one store: what one draft writes, the other reads. Scenario `shared` (the only one)
//! prints `ok shared` on success and panics on any violation.

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package keyvalue-virt:tests;
            world both {
                include wasi:keyvalue/imports@0.2.0-draft;
                include wasi:keyvalue/imports@0.2.0-draft2;
            }
        ",
        path: [
            "../../wit/deps/keyvalue-0.2.0-draft",
            "../../wit/deps/keyvalue-0.2.0-draft2",
        ],
        world: "keyvalue-virt:tests/both",
        generate_all,
    });
}

use bindings::wasi::keyvalue0_2_0_draft as draft;
use bindings::wasi::keyvalue0_2_0_draft2 as draft2;

fn main() {
    let scenario = std::env::args().nth(1).unwrap_or_default();
    assert_eq!(
        scenario, "shared",
        "unknown scenario `{scenario}`; scenarios: shared"
    );

    let old = draft::store::open("shared").expect("draft open");
    let new = draft2::store::open("shared").expect("draft2 open");

    old.set("from-draft", b"1").expect("draft set");
    assert_eq!(
        new.get("from-draft").expect("draft2 get").as_deref(),
        Some(&b"1"[..])
    );
    new.set("from-draft2", b"2").expect("draft2 set");
    assert!(old.exists("from-draft2").expect("draft exists"));

    // One counter, incremented through both drafts.
    assert_eq!(
        draft::atomics::increment(&old, "n", 5).expect("draft increment"),
        5
    );
    assert_eq!(
        draft2::atomics::increment(&new, "n", -2).expect("draft2 increment"),
        3
    );
    assert_eq!(old.get("n").expect("draft get").as_deref(), Some(&b"3"[..]));

    // A draft write after a draft2 cas handle was made makes the swap fail.
    let cas = draft2::atomics::Cas::new(&new, "n").expect("cas new");
    old.set("n", b"10").expect("draft set");
    match draft2::atomics::swap(cas, b"99") {
        Err(draft2::atomics::CasError::CasFailed(retry)) => {
            assert_eq!(
                retry.current().expect("current").as_deref(),
                Some(&b"10"[..])
            );
            draft2::atomics::swap(retry, b"11").expect("retried swap");
        }
        other => panic!("swap after a draft write must fail with cas-failed, got {other:?}"),
    }
    assert_eq!(
        old.get("n").expect("draft get").as_deref(),
        Some(&b"11"[..])
    );

    // Deleting through one draft removes the key for the other.
    draft::batch::delete_many(&old, &["from-draft".to_string(), "from-draft2".to_string()])
        .expect("draft delete-many");
    let values = draft2::batch::get_many(&new, &["from-draft".to_string(), "n".to_string()])
        .expect("draft2 get-many");
    assert_eq!(values, [None, Some(("n".to_string(), b"11".to_vec()))]);

    println!("ok shared");
}
