//! `tessera serve --tls-cert --tls-key`: the real server process speaks HTTPS with a
//! certificate from a private CA made by the openssl command, the CLI talks to it trusting
//! that CA (SSL_CERT_FILE, read by the system-roots loader), and plain HTTP on the same port,
//! or a client that does not trust the CA, gets nowhere.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use tessera_tests::{built_binary, eventually, free_port, tessera_ok};

/// A private CA (`ca.pem`) and a server certificate it signed for localhost and 127.0.0.1
/// (`cert.pem`, `key.pem`), made by the openssl command as an operator would.
fn private_ca(dir: &Path) {
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("the openssl command (apt-get install openssl)");
        assert!(status.success(), "openssl {args:?} failed");
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &["-days", "2", "-subj", "/CN=Tessera test CA"],
            &["-keyout", "ca.key", "-out", "ca.pem"],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-subj",
                "/CN=localhost",
                "-keyout",
                "key.pem",
                "-out",
                "server.csr",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("extensions");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "cert.pem",
    ]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_speaks_https_with_the_given_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    private_ca(dir.path());
    let listen = format!("127.0.0.1:{}", free_port());
    let data = dir.path().join("data");
    let mut server = Command::new(built_binary("tessera"))
        .args(["serve", "--listen", &listen])
        .arg("--data-dir")
        .arg(&data)
        .arg("--tls-cert")
        .arg(dir.path().join("cert.pem"))
        .arg("--tls-key")
        .arg(dir.path().join("key.pem"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn tessera serve");

    let cert = std::fs::read(dir.path().join("ca.pem")).expect("CA certificate");
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&cert).expect("pem"))
        .build()
        .expect("client");
    let url = format!("https://{listen}/api/health");
    eventually(Duration::from_secs(20), "the HTTPS server", || {
        let (https, url) = (https.clone(), url.clone());
        async move {
            https
                .get(&url)
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
        }
    })
    .await;

    // The CLI over HTTPS, trusting the certificate through SSL_CERT_FILE.
    let server_url = format!("https://{listen}");
    let ca = dir.path().join("ca.pem");
    let token = tessera_ok(
        &["token", "create", "--role", "annotator", "--name", "ann"],
        &[
            ("TESSERA_SERVER", server_url.as_ref()),
            ("TESSERA_DATA_DIR", data.as_os_str()),
            ("SSL_CERT_FILE", ca.as_os_str()),
        ],
    );
    assert!(token.starts_with("tsr_"), "{token}");

    // Plain HTTP on the TLS port gets no answer, and an untrusted client no connection.
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    assert!(
        plain
            .get(format!("http://{listen}/api/health"))
            .send()
            .await
            .is_err()
    );
    assert!(
        plain.get(&url).send().await.is_err(),
        "a self-signed certificate was trusted"
    );

    let _ = server.kill();
    let _ = server.wait();
}
