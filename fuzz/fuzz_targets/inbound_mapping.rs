//! The inbound path up to the store, on arbitrary bytes: the inbox's text form of the body, the
//! JSON parse, the CLM contract mapping of the demo, and the canonical checks. Whatever the
//! input, the answer is a canonical document or a rejection; never a panic.

#![no_main]

use std::sync::OnceLock;

use concord_engine::{
    Config,
    inbound::{check_canonical, map_inbound, stored_text},
    mapping::MappingRegistry,
};
use libfuzzer_sys::fuzz_target;

fn mappings() -> &'static MappingRegistry {
    static REGISTRY: OnceLock<MappingRegistry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/demo");
        let config = Config::parse_unchecked(
            "[systems.clm]\nrole = \"clm\"\n[systems.clm.inbound.contract]\n\
             mapping = \"mappings/clm/contract.in.jq\"\n",
            &demo,
        )
        .expect("the fuzz config parses");
        MappingRegistry::validate(&config).expect("the demo mapping compiles")
    })
}

fuzz_target!(|data: &[u8]| {
    let body = stored_text(data);
    match map_inbound(mappings(), "clm", "contract", &body) {
        Ok(canonical) => {
            if let Err(rejection) = check_canonical("contract", &canonical) {
                assert!(rejection.status < 500, "{rejection}");
            }
        }
        Err(rejection) => assert!(rejection.status < 500, "{rejection}"),
    }
});
