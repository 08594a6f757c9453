"""The documents communities keep, through the loopback Discord: a PDF cited by page, a scanned PDF
refused, text pasted in a form, and a message (with its attached files) added as documents."""

from __future__ import annotations

import re
from typing import Any

from citebot.bot.client import CitebotBot
from citebot.bot.messages import ADD_MESSAGE_COMMAND
from tests.paged_documents import PdfLayout, make_docx, make_pdf, make_scanned_pdf, squad_paragraphs

from .fake_discord import CHANNEL_ID, GUILD_B, MANAGE_GUILD, FakeDiscord, member_message, snowflake
from .helpers import ask, descriptions
from .test_library import add, listing, result_of

TITLE, PARAGRAPHS = squad_paragraphs()
CLUB_RULES = (
    "The boathouse opens at nine on Saturdays and closes at dusk.\n\n"
    "Members must sign the logbook before they take a kayak out on the estuary."
)


def buttons(message: dict[str, Any]) -> list[str]:
    return [c.get("label", "") for row in message.get("components") or [] for c in row.get("components", [])]


async def test_a_pdf_is_added_and_answers_cite_its_pages(server: FakeDiscord, bot: CitebotBot) -> None:
    made = make_pdf(PARAGRAPHS[:14], PdfLayout(columns=2, header="The Normans: a reader", title=TITLE))
    assert made.pages >= 2 and made.paragraph_pages[-1] >= 2
    result = await add(server, GUILD_B, "normans.pdf", made.data)
    assert "Added “Normans”" in result, result
    # ¶ numbers count body paragraphs; the page of each is known from the layout.
    answer = await ask(server, "Where did the Normans and Byzantines sign the peace treaty?", guild_id=GUILD_B)
    text = descriptions(answer)
    cited = [(int(p), int(n)) for p, n in re.findall(r"p\. (\d+), ¶(\d+)", text)]
    assert cited, text
    assert all(made.paragraph_pages[n - 1] == page for page, n in cited)
    assert any(page >= 2 for page, _ in cited), text
    assert any(label.startswith("Show p. ") for label in buttons(answer))
    assert "normans.pdf" in await listing(server, GUILD_B)


async def test_a_scanned_pdf_is_refused_and_nothing_changes(server: FakeDiscord, bot: CitebotBot) -> None:
    before = await listing(server, GUILD_B)
    result = await add(server, GUILD_B, "scan.pdf", make_scanned_pdf(1))
    assert "no text to quote" in result and "looks scanned" in result and "Added" not in result
    assert await listing(server, GUILD_B) == before


async def test_text_pasted_in_a_form_becomes_a_document(server: FakeDiscord, bot: CitebotBot) -> None:
    opened = await server.slash(
        "docs add", [{"name": "text", "type": 5, "value": True}], permissions=MANAGE_GUILD, guild_id=GUILD_B
    )
    modal = await server.wait_for(lambda: server.modals.get(opened))
    assert modal["title"] == "Add text to this server's library"
    submitted = await server.submit_modal(
        opened, {"Title": "Boathouse Rules", "Text": CLUB_RULES}, permissions=MANAGE_GUILD, guild_id=GUILD_B
    )
    assert "Added “Boathouse Rules”" in await result_of(server, submitted, "Added", "Not added")
    answer = descriptions(await ask(server, "When does the boathouse open on Saturdays?", guild_id=GUILD_B))
    assert "opens at nine on Saturdays" in answer
    assert "pasted text" in await listing(server, GUILD_B)


async def test_the_form_is_not_opened_for_members_without_manage_server(server: FakeDiscord, bot: CitebotBot) -> None:
    token = await server.slash("docs add", [{"name": "text", "type": 5, "value": True}], guild_id=GUILD_B)
    refusal = await result_of(server, token, "Manage Server")
    assert "Manage Server" in refusal and token not in server.modals


async def test_a_message_and_its_files_become_documents(server: FakeDiscord, bot: CitebotBot) -> None:
    handbook = make_docx(
        [("title", "Kayak Handbook"), ("paragraph", "Every kayak carries a whistle and a spare paddle.")],
        title="Kayak Handbook",
    )
    target = member_message(snowflake(), CHANNEL_ID, "**Opening hours**\n" + CLUB_RULES)
    target["attachments"] = [
        server.document_file("kayaks.docx", handbook),
        server.document_file("photo.png", b"\x89PNG\r\n\x1a\n" + bytes(32)),
    ]
    opened = await server.message_command(ADD_MESSAGE_COMMAND, target, guild_id=GUILD_B, permissions=MANAGE_GUILD)
    modal = await server.wait_for(lambda: server.modals.get(opened))
    submitted = await server.submit_modal(opened, {}, permissions=MANAGE_GUILD, guild_id=GUILD_B)  # title kept
    result = await result_of(server, submitted, "Added", "Not added")
    assert "now has 2 documents" in result and "photo.png" in result, result
    assert "Opening hours" in str(modal)
    answer = await ask(server, "What must members sign before taking a kayak out?", guild_id=GUILD_B)
    assert "sign the logbook" in descriptions(answer)
    # The quote links to the message it came from, as a jump link.
    assert f"/channels/{GUILD_B}/{CHANNEL_ID}/{target['id']})" in descriptions(answer)
    whistle = descriptions(await ask(server, "What does every kayak carry?", guild_id=GUILD_B))
    assert "whistle and a spare paddle" in whistle
    listed = await listing(server, GUILD_B)
    assert "Opening hours" in listed and "from a Discord message" in listed and "Kayak Handbook" in listed


async def test_the_message_command_needs_manage_server(server: FakeDiscord, bot: CitebotBot) -> None:
    target = member_message(snowflake(), CHANNEL_ID, CLUB_RULES)
    token = await server.message_command(ADD_MESSAGE_COMMAND, target, guild_id=GUILD_B)
    assert "Manage Server" in await result_of(server, token, "Manage Server")
    assert token not in server.modals
    sync = [c.body for c in server.calls("PUT", "/applications/")]
    menu = next(cmd for body in sync for cmd in body if cmd.get("name") == ADD_MESSAGE_COMMAND)
    assert menu["type"] == 3 and int(menu["default_member_permissions"]) == MANAGE_GUILD
