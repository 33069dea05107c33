from django.urls import re_path

from availability.consumers import AvailabilityConsumer, AvailabilityEventsConsumer

websocket_urlpatterns = [re_path(r"^ws/availability/?$", AvailabilityConsumer.as_asgi())]
http_urlpatterns = [
    re_path(r"^availability-events/?$", AvailabilityEventsConsumer.as_asgi()),
]
