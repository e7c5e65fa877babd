"""The investigators' console (insiderwatch serve): cases behind sign-in, roles and an access record."""
