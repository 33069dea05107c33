from availability import views
from secure_my_spot.api import route

urlpatterns = [
    route(
        "available-parking-spots",
        views.AvailableParkingSpotListApi.as_view(),
        name="available-parking-spots",
    ),
    route(
        "available-parking-spots-filter",
        views.AvailableParkingSpotFilterApi.as_view(),
        name="available-parking-spots-filter",
    ),
]
