"""OpenAPI description of the enforcement key header, so /api/docs/ can send it."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class EnforcementKeyScheme(OpenApiAuthenticationExtension):
    target_class = "enforcement.authentication.EnforcementKeyAuthentication"
    name = "enforcementKey"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Key <key>`, an enforcement key an operator created in the admin.",
        }
