//! `graphform apply` into the Vault (OpenBao) and AWS Secrets Manager
//! (moto) stores, against the emulator; the token is then read back the way
//! a consumer would, and is one the emulator says is valid.

use std::path::Path;

use graphform_testkit::moto::Moto;
use graphform_testkit::openbao::OpenBao;
use graphform_testkit::venv_bin;

use crate::common::{EmulatorProcess, control, graphform, repo_root, run};

/// The quickstart policy with `store` replaced.
fn policy(dir: &Path, store: &str) {
    let quickstart =
        std::fs::read_to_string(repo_root().join("examples/quickstart.yaml")).expect("read");
    let policy = quickstart.replacen("version: 1\n", &format!("version: 1\n{store}"), 1);
    std::fs::write(dir.join("graphform.yaml"), policy).expect("write");
}

fn with_emulator<'c>(
    command: &'c mut std::process::Command,
    emulator: &EmulatorProcess,
) -> &'c mut std::process::Command {
    for (name, value) in &emulator.env {
        command.env(name, value);
    }
    command
}

/// The emulator's status of the token with `value`'s fingerprint.
fn status_in_meta(emulator: &EmulatorProcess, value: &str) -> String {
    let fingerprint = graphform_store::Secret::new(value)
        .fingerprint()
        .to_string();
    let state = control(emulator.port, "state");
    let tokens = &state["tokens"];
    let token = tokens
        .get(&fingerprint)
        .cloned()
        .or_else(|| {
            tokens.as_array().and_then(|list| {
                list.iter()
                    .find(|t| t["fingerprint"] == fingerprint.as_str())
                    .cloned()
            })
        })
        .unwrap_or_else(|| panic!("{fingerprint} is not a token the emulator issued: {state}"));
    token["status"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn apply_writes_tokens_to_vault_and_the_bao_cli_reads_them_back() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let bao = runtime.block_on(OpenBao::start());
    let emulator = EmulatorProcess::start();
    let dir = tempfile::tempdir().expect("tempdir");
    policy(
        dir.path(),
        &format!(
            "store:\n  type: vault\n  address: {}\n  prefix: graphform/e2e/\n",
            bao.address()
        ),
    );
    let token = bao.root_token();
    let mut apply = graphform(dir.path());
    with_emulator(apply.args(["apply", "--auto-approve"]), &emulator)
        .env("VAULT_TOKEN", token.expose());
    let (code, text) = run(&mut apply);
    assert_eq!(code, 0, "{text}");
    let output = bao
        .cli()
        .args([
            "kv",
            "get",
            "-mount=secret",
            "-field=value",
            "graphform/e2e/tokens/acme/ci-reporting/token/insights-read",
        ])
        .output()
        .expect("bao runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let value = String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    assert!(
        value.starts_with("EAA"),
        "not a token: {} characters",
        value.len()
    );
    assert_eq!(status_in_meta(&emulator, &value), "valid");
    // The policy converged, through the same store.
    let mut plan = graphform(dir.path());
    with_emulator(plan.args(["plan", "--detailed-exitcode"]), &emulator)
        .env("VAULT_TOKEN", token.expose());
    let (code, text) = run(&mut plan);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn apply_writes_tokens_to_aws_secrets_manager_and_boto3_reads_them_back() {
    // The prefix as people write it: its slash is not part of the names.
    let moto = Moto::start();
    let emulator = EmulatorProcess::start();
    let dir = tempfile::tempdir().expect("tempdir");
    policy(
        dir.path(),
        &format!(
            "store:\n  type: aws-secrets-manager\n  region: us-east-1\n  prefix: graphform/e2e/\n  endpoint_url: {}\n",
            moto.endpoint()
        ),
    );
    let aws = |command: &mut std::process::Command| {
        command
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE");
    };
    let mut apply = graphform(dir.path());
    with_emulator(apply.args(["apply", "--auto-approve"]), &emulator);
    aws(&mut apply);
    let (code, text) = run(&mut apply);
    assert_eq!(code, 0, "{text}");
    // A consumer reads AWSCURRENT with the AWS SDK.
    let script = "import boto3, json, sys\n\
client = boto3.client('secretsmanager', region_name='us-east-1', endpoint_url=sys.argv[1], aws_access_key_id='testing', aws_secret_access_key='testing')\n\
secret = client.get_secret_value(SecretId=sys.argv[2], VersionStage='AWSCURRENT')\n\
print(json.loads(secret['SecretString'])['value'])\n";
    let output = std::process::Command::new(venv_bin("python"))
        .args([
            "-c",
            script,
            &moto.endpoint(),
            "graphform/e2e/tokens/acme/ci-reporting/token/insights-read",
        ])
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let value = String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    assert!(
        value.starts_with("EAA"),
        "not a token: {} characters",
        value.len()
    );
    assert_eq!(status_in_meta(&emulator, &value), "valid");
    let mut plan = graphform(dir.path());
    with_emulator(plan.args(["plan", "--detailed-exitcode"]), &emulator);
    aws(&mut plan);
    let (code, text) = run(&mut plan);
    assert_eq!(code, 0, "{text}");
}
