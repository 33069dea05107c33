from secure_my_spot.api import route
from users import views

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
]
