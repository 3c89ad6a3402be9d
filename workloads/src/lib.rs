//! Clients and operation generators for each target protocol. Not yet built.
