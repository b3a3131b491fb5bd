//! Spec values to the Aura client's wire values. The CRD has its own enums (they shape the
//! schema and `kubectl explain`); the client has its own (strict on input, tolerant on output).

use crate::aura;
use crate::crd::instance::{CdcEnrichmentMode, CloudProvider, InstanceType};

/// The Aura client's wire value for a spec cloud provider.
pub fn provider(p: CloudProvider) -> aura::CloudProvider {
    match p {
        CloudProvider::Gcp => aura::CloudProvider::Gcp,
        CloudProvider::Aws => aura::CloudProvider::Aws,
        CloudProvider::Azure => aura::CloudProvider::Azure,
    }
}

/// The Aura client's wire value for a spec instance type.
pub fn tier(t: InstanceType) -> aura::InstanceType {
    match t {
        InstanceType::FreeDb => aura::InstanceType::FreeDb,
        InstanceType::ProfessionalDb => aura::InstanceType::ProfessionalDb,
        InstanceType::ProfessionalDs => aura::InstanceType::ProfessionalDs,
        InstanceType::EnterpriseDb => aura::InstanceType::EnterpriseDb,
        InstanceType::EnterpriseDs => aura::InstanceType::EnterpriseDs,
        InstanceType::BusinessCritical => aura::InstanceType::BusinessCritical,
    }
}

/// The Aura client's wire value for a spec CDC enrichment mode.
pub fn cdc(mode: CdcEnrichmentMode) -> aura::CdcEnrichmentMode {
    match mode {
        CdcEnrichmentMode::Off => aura::CdcEnrichmentMode::Off,
        CdcEnrichmentMode::Diff => aura::CdcEnrichmentMode::Diff,
        CdcEnrichmentMode::Full => aura::CdcEnrichmentMode::Full,
    }
}
