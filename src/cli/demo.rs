//! `passerelle demo`: the embedded default with the demo data, and its banner.

use super::*;

pub(super) async fn demo(
    mut config: Config,
    listen: Option<String>,
    management_listen: Option<String>,
    extra: Vec<PathBuf>,
) -> Result<(), Failure> {
    if let Some(listen) = listen {
        // A demo on a free port (tests, the benchmark, several demos side by side) takes a
        // free management port as well.
        if listen.ends_with(":0") && management_listen.is_none() {
            config.server.management_listen = "127.0.0.1:0".into();
        }
        config.server.listen = listen;
    }
    if let Some(management) = management_listen {
        config.server.management_listen = management;
    }
    config.validate().map_err(usage)?;
    crate::telemetry::init(&config.log);
    let demo_file =
        provision::parse(DEMO_PROVISIONING, "config/demo.toml").map_err(provision_failure)?;
    let extra_files = extra
        .iter()
        .map(|p| provision::read(p).map(|f| (p.clone(), f)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(provision_failure)?;
    let app = Application::build(&config)
        .await
        .map_err(|e| runtime(format!("{e:#}")))?;
    let state = app.state().clone();
    // The demo data is applied once per version of config/demo.toml: what people change in
    // the console afterwards (a mode switched, a person suspended, roles amended) survives
    // a restart. The marker is set just before applying; the built-in file applies cleanly.
    let marker = format!(
        "demo-provisioned:{}",
        crate::traces::verify::hex(&crate::crypto::sha256(DEMO_PROVISIONING.as_bytes()))
    );
    let candidate = crate::crypto::random_bytes(16);
    let first = state
        .stores
        .secrets
        .server_secret(&marker, &candidate)
        .await
        .map_err(runtime)?
        == candidate;
    if first {
        provision::apply(&state, &demo_file, true)
            .await
            .map_err(provision_failure)?;
    }
    for (path, file) in &extra_files {
        let report = provision::apply(&state, file, true)
            .await
            .map_err(provision_failure)?;
        println!("{}: {report}", path.display());
    }
    print_demo_banner(
        app.issuer(),
        app.management_addr(),
        &demo_file,
        &config.server.data_dir,
        first,
    );
    app.run_until_stopped()
        .await
        .map_err(|e| runtime(format!("{e:#}")))
}

pub(super) fn print_demo_banner(
    issuer: &str,
    management: Option<std::net::SocketAddr>,
    demo: &provision::ProvisionFile,
    data_dir: &Path,
    applied: bool,
) {
    let mut out = String::new();
    out.push_str(&format!("\nPasserelle demo is running at {issuer}\n"));
    out.push_str(&format!("  issuer:    {issuer}\n"));
    out.push_str(&format!(
        "  discovery: {issuer}/.well-known/openid-configuration\n"
    ));
    out.push_str(&format!("  login:     {issuer}/login\n"));
    out.push_str(&format!(
        "  console:   {issuer}/console (administrators; a TOTP second factor is enrolled at the first visit)\n"
    ));
    out.push_str(&format!("  admin API: {issuer}/api/v1/openapi.json\n"));
    if let Some(addr) = management {
        out.push_str(&format!(
            "  metrics:   http://{addr}/metrics (operators only)\n"
        ));
    }
    out.push_str(&format!("  data:      {}\n", data_dir.display()));
    out.push_str(if applied {
        "  demo data: applied from config/demo.toml\n"
    } else {
        "  demo data: already in place; changes made since are kept (remove the data folder to start over)\n"
    });
    if let Some(rp) = demo.service.iter().find(|s| s.client_id == "demo-app") {
        out.push_str(
            "\nDemo relying application (point any OpenID Connect library at the issuer):\n",
        );
        out.push_str(&format!("  client_id:     {}\n", rp.client_id));
        out.push_str(&format!(
            "  client_secret: {}\n",
            rp.secret.as_deref().unwrap_or("(public client)")
        ));
        for uri in &rp.redirect_uris {
            out.push_str(&format!("  redirect_uri:  {uri}\n"));
        }
        out.push_str("  scopes:        openid profile email habilitations; PKCE S256 required\n");
    }
    out.push_str(
        "\nDemo accounts (fictional people; demo passwords exist only in config/demo.toml):\n",
    );
    for a in &demo.account {
        let org = match (&a.partner, &a.caf) {
            (Some(p), _) => p.clone(),
            (None, Some(c)) => format!("Caf {c}"),
            (None, None) => String::new(),
        };
        let roles = a
            .admin_roles
            .iter()
            .map(|r| {
                serde_json::to_value(r)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(", ");
        let roles = if roles.is_empty() {
            String::new()
        } else {
            format!(" [{roles}]")
        };
        out.push_str(&format!(
            "  {:<40} {} {} ({org}){roles}, password: {}\n",
            a.email,
            a.given_name,
            a.family_name,
            a.password
                .as_deref()
                .unwrap_or("(none: activation pending)")
        ));
    }
    println!("{out}");
}
