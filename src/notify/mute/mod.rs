//! Why a notification is held back: silences, inhibition by another firing alert, time
//! intervals that mute a route, and flap control.

pub mod flap;
pub mod inhibit;
pub mod silence;
pub mod time_interval;
