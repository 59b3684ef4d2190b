//! A valid component that implements some other world than krog's `transformer`.

wit_bindgen::generate!({
    path: "wit",
    world: "other",
});

struct Wrong;

impl Guest for Wrong {
    fn hello() -> String {
        "hello from the wrong world".to_string()
    }
}

export!(Wrong);
