//! Built-in rule actions (lead).
