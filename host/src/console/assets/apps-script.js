function doPost(e) {
  var rows = JSON.parse(e.postData.contents).values;
  var sheet = SpreadsheetApp.getActiveSpreadsheet().getActiveSheet();
  rows.forEach(function (row) { sheet.appendRow(row); });
  return ContentService.createTextOutput("ok");
}
