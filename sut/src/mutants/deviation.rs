//! Internal mutants ([`super::Kind::Deviate`], [`super::Kind::Race`]): deviations of the
//! reference's internal state, entered from [`crate::memory`].
