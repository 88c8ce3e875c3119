"""The domain: tiers, roles, the request lifecycle, command grammar, tagging, SLA clocks and jobs. Pure."""
