from django.contrib import admin

from voting.models import Tally, Vote


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    list_display = ("id", "proposal", "voter", "support", "power", "overridden", "is_current", "created_at")
    list_filter = ("support", "is_current", "format", "contract_wallet")
    search_fields = ("id", "voter")
    readonly_fields = [f.name for f in Vote._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Tally)
class TallyAdmin(admin.ModelAdmin):
    list_display = ("proposal", "for_power", "against_power", "abstain_power", "voters", "outcome", "closed_at")
    readonly_fields = [f.name for f in Tally._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
