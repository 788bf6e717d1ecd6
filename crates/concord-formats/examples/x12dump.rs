fn main() {
    for f in std::env::args().skip(1) {
        let bytes = std::fs::read(&f).unwrap();
        let (text, enc) = concord_formats::x12::parse_bytes(&bytes);
        let doc = concord_formats::x12::parse(&text);
        println!("== {f}: {} interchanges", doc.interchanges.len());
        for d in enc.iter().chain(&doc.diagnostics) {
            println!("   {d}");
        }
    }
}
