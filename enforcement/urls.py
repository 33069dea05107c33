from enforcement import views
from secure_my_spot.api import route

urlpatterns = [
    route("enforcement/coverage", views.CoverageApi.as_view(), name="enforcement-coverage"),
]
