//! Prize tables: entries inside a prize range carry what their rank wins on every kind of
//! answer (boards, players, friends' boards, streams, CSV); boards say the cutoff score and a
//! player answer how much score the player lacks; a campaign without a table says none of it.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::fixture::Spin;
use crate::common::sse::EventStream;
use crate::common::{ALL, spawn_embedded};

const PRIZES: &str = "[[campaigns.prizes]]\nranks = \"1\"\nprize = \"Gold\"\n\
                      [[campaigns.prizes]]\nranks = \"2-3\"\nprize = \"Silver, €50\"\n";

/// Player `player` wins `win` on a stake of 10 (score `win / 10`), `minute` minutes into the day.
fn spin(player: i32, win: i64, minute: i64) -> Spin {
    let time = "2026-11-20T10:00:00Z".parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    Spin { player, game: 1, win, stake: 10, time: time + chrono::Duration::minutes(minute) }
}

fn prizes_of(entries: &Value) -> Vec<(i64, Option<&str>)> {
    let entries = entries.as_array().unwrap();
    entries.iter().map(|e| (e["playerId"].as_i64().unwrap(), e["prize"].as_str())).collect()
}

#[tokio::test]
async fn ranks_inside_the_table_win_their_prize_on_every_answer() {
    let dir = tempfile::tempdir().unwrap();
    let campaigns = dir.path().join("campaigns.toml");
    std::fs::write(&campaigns, format!("{ALL}{PRIZES}")).unwrap();
    let (app, _data) = spawn_embedded(&campaigns, &["--cache-ttl", "1s"]).await;

    // Two players: the last prize rank (3) is not held yet.
    app.ingest(&[spin(1, 500, 0), spin(2, 300, 1)]).await;
    let board = app.json("/campaigns/all/top").await;
    assert_eq!(prizes_of(&board["entries"]), [(1, Some("Gold")), (2, Some("Silver, €50"))]);
    assert_eq!(board["prizeCutoff"], Value::Null, "present and null: {board}");
    let nobody = app.json("/campaigns/all/players/9").await;
    assert_eq!((nobody["prizeCutoff"].clone(), nobody["toPrize"].clone()), (Value::Null, Value::Null));
    assert!(nobody.get("toPrize").is_some(), "{nobody}");
    let second = app.json("/campaigns/all/players/2").await;
    assert_eq!(second["toPrize"], 0.0, "inside the zone: {second}");
    assert_eq!(second["player"]["prize"], "Silver, €50");

    // Five players: rank 3 (score 20) is the cutoff; rank 4 ties it but reached it later.
    app.ingest(&[spin(3, 200, 2), spin(4, 200, 3), spin(5, 120, 4)]).await;
    let board = crate::common::until(Duration::from_secs(30), "the board has five players", || async {
        let board = app.json("/campaigns/all/top").await;
        (board["total"] == 5).then_some(board)
    })
    .await;
    assert_eq!(
        prizes_of(&board["entries"]),
        [(1, Some("Gold")), (2, Some("Silver, €50")), (3, Some("Silver, €50")), (4, None), (5, None)]
    );
    assert_eq!(board["prizeCutoff"], 20.0);
    assert!(board["entries"][3].get("prize").is_none(), "no prize, no field: {board}");
    let page = app.json("/campaigns/all/top?offset=2&limit=2").await;
    assert_eq!(prizes_of(&page["entries"]), [(3, Some("Silver, €50")), (4, None)], "prizes by global rank");
    let fifth = app.json("/campaigns/all/players/5?around=1").await;
    assert_eq!((fifth["prizeCutoff"].clone(), fifth["toPrize"].clone()), (json!(20.0), json!(8.0)));
    assert_eq!(prizes_of(&fifth["around"]), [(4, None), (5, None)]);
    let tied = app.json("/campaigns/all/players/4").await;
    assert_eq!(tied["toPrize"], 0.0, "as much as the cutoff, reached later: nothing more to add");
    let outside = app.json("/campaigns/all/players/9").await;
    assert_eq!(outside["toPrize"], 20.0, "unranked: the whole cutoff");
    let friends = app.json("/campaigns/all/players?ids=5,1,9").await;
    assert_eq!(prizes_of(&friends["entries"]), [(1, Some("Gold")), (5, None)]);
    assert_eq!(friends["prizeCutoff"], 20.0);

    // The campaign lists its table as the file writes it; streams and CSV carry the prizes.
    let campaign = app.json("/campaigns/all").await;
    assert_eq!(
        campaign["prizes"],
        json!([{"ranks": "1", "prize": "Gold"}, {"ranks": "2-3", "prize": "Silver, €50"}])
    );
    let url = format!("{}/campaigns/all/top/stream?limit=3", app.base);
    let mut stream = EventStream::open(&app.client, &url, None).await;
    let event = stream.next_within(Duration::from_secs(30)).await.expect("the stream's first board");
    let streamed: Value = serde_json::from_str(&event.data).unwrap();
    assert_eq!(
        prizes_of(&streamed["entries"]),
        [(1, Some("Gold")), (2, Some("Silver, €50")), (3, Some("Silver, €50"))]
    );
    let csv = app.get("/campaigns/all/standings.csv").await.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "rank,playerId,score,win,stake,gameId,spins,achievedAt,prize");
    assert!(lines[1].ends_with(",Gold") && lines[3].ends_with(",\"Silver, €50\""), "{csv}");
    assert!(lines[4].ends_with("Z,"), "past the table: an empty prize: {csv}");
}

#[tokio::test]
async fn a_campaign_without_a_table_says_nothing_of_prizes() {
    let (_dir, campaigns) = crate::common::campaign_all();
    let (app, _data) = spawn_embedded(&campaigns, &[]).await;
    app.ingest(&[spin(1, 500, 0)]).await;
    let board = app.json("/campaigns/all/top").await;
    assert_eq!(board["entries"][0]["playerId"], 1, "{board}");
    assert!(board.get("prizeCutoff").is_none() && board["entries"][0].get("prize").is_none(), "{board}");
    let player = app.json("/campaigns/all/players/1").await;
    assert_eq!(player["player"]["rank"], 1);
    assert!(player.get("toPrize").is_none() && player.get("prizeCutoff").is_none(), "{player}");
    let csv = app.get("/campaigns/all/standings.csv").await.text().await.unwrap();
    assert_eq!(csv.lines().next(), Some("rank,playerId,score,win,stake,gameId,spins,achievedAt"));
    assert_eq!(csv.lines().count(), 2, "{csv}");
}
