"""The usage-charge API for the cloud's metering services (bearer tokens, JSON in and out)."""
