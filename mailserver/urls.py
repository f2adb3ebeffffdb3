"""Web URLs of mailserver: the RFC 8058 one-click unsubscribe.

Include them and point ``MAILSERVER_UNSUBSCRIBE_URL`` at the result::

    path("mail/", include("mailserver.urls")),
    MAILSERVER_UNSUBSCRIBE_URL = "https://example.com/mail/unsubscribe/{token}/"
"""

from django.urls import path

from mailserver import views

app_name = "mailserver"
urlpatterns = [
    path("unsubscribe/<str:token>/", views.unsubscribe_web, name="unsubscribe"),
]
