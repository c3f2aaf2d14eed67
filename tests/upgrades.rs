//! A database a newer release migrated is refused at start-up, on both stores, with the reason;
//! the refusal changes nothing (the same release opens it again afterwards).

use tessera_server::store::{StoreError, open_store};
use tessera_tests::fresh_postgres_database;

async fn refused_after_a_newer_release(url: &str, mark_newer: impl AsyncFnOnce()) {
    drop(
        open_store(url)
            .await
            .expect("this release migrates a new database"),
    );
    mark_newer().await;
    match open_store(url).await {
        Err(StoreError::NewerSchema { found, known }) => assert_eq!(found, known as i64 + 1),
        Err(other) if other.to_string().contains("upgraded by a newer Tessera") => {}
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("a database from a newer release was opened"),
    }
}

#[tokio::test]
async fn sqlite_refuses_a_database_from_a_newer_release() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tessera.db");
    let url = path.display().to_string();
    refused_after_a_newer_release(&url, async || {
        let conn = rusqlite::Connection::open(&path).expect("open");
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        conn.pragma_update(None, "user_version", v + 1)
            .expect("bump");
    })
    .await;
}

#[tokio::test]
async fn postgres_refuses_a_database_from_a_newer_release() {
    let url = fresh_postgres_database().await;
    refused_after_a_newer_release(&url, async || {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        client
            .batch_execute(
                "INSERT INTO schema_migrations (version) SELECT max(version) + 1 FROM schema_migrations",
            )
            .await
            .expect("bump");
    })
    .await;
}
