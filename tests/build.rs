//! Compiles the PostgreSQL run of the black-box suite only when `KROG_TEST_DATABASE_URL`
//! names a database to run it against.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(krog_postgres)");
    println!("cargo::rerun-if-env-changed=KROG_TEST_DATABASE_URL");
    if std::env::var("KROG_TEST_DATABASE_URL").is_ok_and(|url| url.starts_with("postgres")) {
        println!("cargo::rustc-cfg=krog_postgres");
    }
}
