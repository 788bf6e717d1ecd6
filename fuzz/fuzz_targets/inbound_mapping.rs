//! The inbound path up to the store, on arbitrary bytes, for every inbound route of the demo
//! estate (the CLM's contracts, purchasing's requisitions, the vendor portal's registrations,
//! the warehouse's goods receipts; the first byte picks the route): the inbox's text form of
//! the body, the JSON parse, the system's mapping, and the canonical checks. Whatever the
//! input, the answer is a canonical document or a rejection (never a 5xx); never a panic.

#![no_main]

use std::sync::OnceLock;

use concord_engine::{
    Config,
    inbound::{check_canonical, map_inbound, stored_text},
    mapping::MappingRegistry,
};
use libfuzzer_sys::fuzz_target;

/// The demo's mappings, and every (system, message type) with an inbound route.
fn routes() -> &'static (MappingRegistry, Vec<(String, String)>) {
    static ROUTES: OnceLock<(MappingRegistry, Vec<(String, String)>)> = OnceLock::new();
    ROUTES.get_or_init(|| {
        let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/demo");
        let mut text =
            std::fs::read_to_string(demo.join("concord.toml")).expect("the demo config");
        // The sandbox URLs do not matter here; any http URL passes the checks.
        for placeholder in ["@ERP_URL@", "@PURCHASING_URL@", "@ANALYTICS_URL@", "@SUPPLIER_URL@", "@AP_URL@"] {
            text = text.replace(placeholder, "http://127.0.0.1:9");
        }
        let text = text.replace("@EDI_SUPPLIER@", "S-1");
        let config = Config::parse_unchecked(&text, &demo).expect("the demo config parses");
        let registry = MappingRegistry::validate(&config).expect("the demo mappings compile");
        let routes = config
            .systems
            .iter()
            .flat_map(|(id, s)| s.inbound.keys().map(move |t| (id.clone(), t.clone())))
            .collect();
        (registry, routes)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let (registry, routes) = routes();
    let (system, message_type) = &routes[usize::from(pick) % routes.len()];
    let body = stored_text(body);
    match map_inbound(registry, system, message_type, &body) {
        Ok(canonical) => {
            if let Err(rejection) = check_canonical(message_type, &canonical) {
                assert!(rejection.status < 500, "{rejection}");
            }
        }
        Err(rejection) => assert!(rejection.status < 500, "{rejection}"),
    }
});
