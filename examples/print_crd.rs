use kube::CustomResourceExt;
fn main() {
    println!(
        "{}",
        serde_json::to_string_pretty(&aura_operator::crd::AuraInstance::crd()).unwrap()
    );
}
