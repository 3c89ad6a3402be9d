//! The run store, streaming history writer and reports. Not yet built.
