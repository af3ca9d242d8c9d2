//! Closed vocabularies of the cooperation. Each is stored as its snake_case name.

use serde::{Deserialize, Serialize};
use strum::{EnumString, IntoStaticStr, VariantArray};

macro_rules! vocabulary {
    ($(#[$m:meta])* $name:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize,
                 EnumString, IntoStaticStr, VariantArray, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        #[strum(serialize_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }
    };
}
pub(crate) use vocabulary;

vocabulary!(
    /// What kind of organisation an institution is.
    InstitutionKind {
        University, VocationalCollege, ResearchInstitute, Company, Foundation, GovernmentAgency,
        LocalGovernment, Ngo, InternationalOrganization, Other,
    }
);

vocabulary!(
    /// The standing of an institution in an alliance.
    MemberRole { FoundingMember, Member, Observer }
);

vocabulary!(
    /// The field a project works in.
    Sector {
        LowCarbonDemonstration, CleanEnergy, EcologicalProtection, ClimateAdaptation,
        DisasterResilience, AcademicExchange, EducationTraining, PairedAssistance,
        HumanitarianSupplies, CultureExchange, Other,
    }
);

vocabulary!(
    /// What an institution does in a project.
    ParticipantRole { Lead, Implementing, Funding, Beneficiary }
);

vocabulary!(
    /// What a token may do: `admin` everything, `viewer` read, `partner` its own projects.
    Role { Admin, Viewer, Partner }
);
