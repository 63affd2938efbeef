"""Business flows: onboarding, catalogue, checkout, orders, refunds, webhooks, reconciliation."""
