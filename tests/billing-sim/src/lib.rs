//! Billing simulator (Maxio Advanced Billing API).
