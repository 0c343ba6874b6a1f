from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VideoConfig(AppConfig):
    name = "video"
    verbose_name = _("Video consultations")

    def ready(self) -> None:
        from booking.video_rooms import register_room_opener
        from video.services import open_rooms_for

        # The staff queue (booking) links to the rooms without importing video.
        register_room_opener(open_rooms_for)
