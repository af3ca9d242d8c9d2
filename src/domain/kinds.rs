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

/// OECD DAC Rio marker score: 0 not targeted, 1 significant, 2 principal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "u8", into = "u8")]
#[schema(value_type = u8, minimum = 0, maximum = 2)]
pub struct RioScore(u8);

impl RioScore {
    pub fn value(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for RioScore {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        if v <= 2 {
            Ok(RioScore(v))
        } else {
            Err("must be 0, 1 or 2".into())
        }
    }
}

impl From<RioScore> for u8 {
    fn from(s: RioScore) -> u8 {
        s.0
    }
}

/// Rio markers of a project (OECD DAC): how much it targets climate change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RioMarkers {
    pub mitigation: RioScore,
    pub adaptation: RioScore,
}
