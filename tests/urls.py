from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("mail/", include("mailserver.urls")),  # issue 5: one-click unsubscribe
    path("anymail/", include("anymail.urls")),  # issue 9: provider tracking webhooks
]
