from secure_my_spot.api import route
from users import views

# A vehicle's public id (22 URL-safe characters today); bounded, so nothing long is looked up.
VEHICLE = r"(?P<vehicle_id>[A-Za-z0-9_-]{1,64})"

urlpatterns = [
    route("sign-up", views.SignUpApi.as_view(), name="sign-up"),
    route("sign-in", views.SignInApi.as_view(), name="sign-in"),
    route("sign-out", views.SignOutApi.as_view(), name="sign-out"),
    route("change-pw", views.ChangePasswordApi.as_view(), name="change-pw"),
    route("verify-email", views.VerifyEmailApi.as_view(), name="verify-email"),
    route("resend-verification", views.ResendVerificationApi.as_view(), name="resend-verification"),
    route("password-reset", views.PasswordResetApi.as_view(), name="password-reset"),
    route(
        "password-reset/confirm",
        views.PasswordResetConfirmApi.as_view(),
        name="password-reset-confirm",
    ),
    route("vehicles", views.VehicleListApi.as_view(), name="vehicle-list"),
    route(f"vehicles/{VEHICLE}", views.VehicleDetailApi.as_view(), name="vehicle-detail"),
]
