"""Cards kept current: Splash's account-updater results applied to stored cards, and cards that expire before their
next autopay charge flagged ahead of it (issue #19)."""
