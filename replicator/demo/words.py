"""Word lists and sizes the demo data is generated from."""

from __future__ import annotations

from datetime import datetime

# -- word lists --------------------------------------------------------------------------

# fmt: off

COMPANIES = (("usmf", "Contoso Entertainment System USA", "US"),
             ("usrt", "Contoso Retail USA", "RT"))
"""Legal entities: dataAreaId, name, customer account prefix."""

GROUPS = (
    ("10", "Wholesale customers", "Net30", "No", 30),
    ("20", "Major customers", "Net45", "No", 10),
    ("30", "Retail customers", "Net10", "Yes", 15),
    ("40", "Internet customers", "COD", "Yes", 5),
    ("50", "Government customers", "Net60", "No", 8),
    ("60", "Education customers", "Net30", "No", 8),
    ("70", "Healthcare customers", "Net45", "No", 8),
    ("80", "Other customers", "Net30", "No", 10),
    ("90", "Intercompany customers", "Net30", "No", 0),
    ("100", "Employees", "Net10", "Yes", 0),
)
"""Customer groups: id, description, payment terms, sales tax included, weight (organisations)."""

CITIES = (
    ("Seattle", "Washington", "WA", "981", 47.6062, -122.3321),
    ("Spokane", "Washington", "WA", "992", 47.6588, -117.4260),
    ("Portland", "Oregon", "OR", "972", 45.5152, -122.6784),
    ("Boise", "Idaho", "ID", "837", 43.6150, -116.2023),
    ("Idaho Falls", "Idaho", "ID", "834", 43.4917, -112.0339),
    ("San Francisco", "California", "CA", "941", 37.7749, -122.4194),
    ("Los Angeles", "California", "CA", "900", 34.0522, -118.2437),
    ("San Diego", "California", "CA", "921", 32.7157, -117.1611),
    ("Phoenix", "Arizona", "AZ", "850", 33.4484, -112.0740),
    ("Tucson", "Arizona", "AZ", "857", 32.2226, -110.9747),
    ("Las Vegas", "Nevada", "NV", "891", 36.1699, -115.1398),
    ("Reno", "Nevada", "NV", "895", 39.5296, -119.8138),
    ("Salt Lake City", "Utah", "UT", "841", 40.7608, -111.8910),
    ("Denver", "Colorado", "CO", "802", 39.7392, -104.9903),
    ("Albuquerque", "New Mexico", "NM", "871", 35.0844, -106.6504),
    ("Austin", "Texas", "TX", "787", 30.2672, -97.7431),
    ("Dallas", "Texas", "TX", "752", 32.7767, -96.7970),
    ("Houston", "Texas", "TX", "770", 29.7604, -95.3698),
    ("Oklahoma City", "Oklahoma", "OK", "731", 35.4676, -97.5164),
    ("Wichita", "Kansas", "KS", "672", 37.6872, -97.3301),
    ("Kansas City", "Missouri", "MO", "641", 39.0997, -94.5786),
    ("St. Louis", "Missouri", "MO", "631", 38.6270, -90.1994),
    ("Omaha", "Nebraska", "NE", "681", 41.2565, -95.9345),
    ("Minneapolis", "Minnesota", "MN", "554", 44.9778, -93.2650),
    ("Des Moines", "Iowa", "IA", "503", 41.5868, -93.6250),
    ("Fargo", "North Dakota", "ND", "581", 46.8772, -96.7898),
    ("Sioux Falls", "South Dakota", "SD", "571", 43.5446, -96.7311),
    ("Billings", "Montana", "MT", "591", 45.7833, -108.5007),
    ("Cheyenne", "Wyoming", "WY", "820", 41.1400, -104.8202),
    ("Chicago", "Illinois", "IL", "606", 41.8781, -87.6298),
    ("Milwaukee", "Wisconsin", "WI", "532", 43.0389, -87.9065),
    ("Detroit", "Michigan", "MI", "482", 42.3314, -83.0458),
    ("Indianapolis", "Indiana", "IN", "462", 39.7684, -86.1581),
    ("Columbus", "Ohio", "OH", "432", 39.9612, -82.9988),
    ("Cleveland", "Ohio", "OH", "441", 41.4993, -81.6944),
    ("Louisville", "Kentucky", "KY", "402", 38.2527, -85.7585),
    ("Nashville", "Tennessee", "TN", "372", 36.1627, -86.7816),
    ("Memphis", "Tennessee", "TN", "381", 35.1495, -90.0490),
    ("Atlanta", "Georgia", "GA", "303", 33.7490, -84.3880),
    ("Birmingham", "Alabama", "AL", "352", 33.5186, -86.8104),
    ("Jackson", "Mississippi", "MS", "392", 32.2988, -90.1848),
    ("New Orleans", "Louisiana", "LA", "701", 29.9511, -90.0715),
    ("Little Rock", "Arkansas", "AR", "722", 34.7465, -92.2896),
    ("Miami", "Florida", "FL", "331", 25.7617, -80.1918),
    ("Orlando", "Florida", "FL", "328", 28.5383, -81.3792),
    ("Tampa", "Florida", "FL", "336", 27.9506, -82.4572),
    ("Charlotte", "North Carolina", "NC", "282", 35.2271, -80.8431),
    ("Raleigh", "North Carolina", "NC", "276", 35.7796, -78.6382),
    ("Charleston", "South Carolina", "SC", "294", 32.7765, -79.9311),
    ("Richmond", "Virginia", "VA", "232", 37.5407, -77.4360),
    ("Washington", "District of Columbia", "DC", "200", 38.9072, -77.0369),
    ("Baltimore", "Maryland", "MD", "212", 39.2904, -76.6122),
    ("Wilmington", "Delaware", "DE", "198", 39.7391, -75.5398),
    ("Charleston", "West Virginia", "WV", "253", 38.3498, -81.6326),
    ("Philadelphia", "Pennsylvania", "PA", "191", 39.9526, -75.1652),
    ("Pittsburgh", "Pennsylvania", "PA", "152", 40.4406, -79.9959),
    ("Newark", "New Jersey", "NJ", "071", 40.7357, -74.1724),
    ("New York", "New York", "NY", "100", 40.7128, -74.0060),
    ("Buffalo", "New York", "NY", "142", 42.8864, -78.8784),
    ("Hartford", "Connecticut", "CT", "061", 41.7658, -72.6734),
    ("Providence", "Rhode Island", "RI", "029", 41.8240, -71.4128),
    ("Boston", "Massachusetts", "MA", "021", 42.3601, -71.0589),
    ("Burlington", "Vermont", "VT", "054", 44.4759, -73.2121),
    ("Manchester", "New Hampshire", "NH", "031", 42.9956, -71.4548),
    ("Portland", "Maine", "ME", "041", 43.6591, -70.2568),
    ("Anchorage", "Alaska", "AK", "995", 61.2181, -149.9003),
    ("Honolulu", "Hawaii", "HI", "968", 21.3069, -157.8583),
)
"""City, state, state code, ZIP prefix, latitude, longitude: every state and DC at least once."""

STATE_CODES = {state: code for _, state, code, *_ in CITIES}
"""Full state name (as F&O holds it) -> USPS code (as Dataverse holds it)."""
NO_SALES_TAX = frozenset({"OR", "MT", "NH", "DE", "AK"})
BRANDS = ("Contoso", "Fabrikam", "Northwind", "Adventure Works", "Litware", "Tailspin",
          "Wingtip", "Proseware", "Alpine Ski House", "Coho", "Fourth Coffee", "Lucerne",
          "Margie's", "Trey", "Woodgrove", "Relecloud", "Humongous", "Blue Yonder", "Southridge",
          "Wide World", "Tailwind", "VanArsdel", "A. Datum", "Consolidated", "Bellows",
          "City Power", "Graphic Design", "Best For You", "Lamna", "Munson's", "Nod", "Olympia")
TRADES = ("Retail", "Wholesale", "Supply", "Logistics", "Foods", "Outfitters", "Electronics",
          "Furniture", "Hardware", "Pharmacy", "Motors", "Media", "Audio", "Hospitality",
          "Stores", "Distribution", "Interiors", "Entertainment")
FIRST_NAMES = ("Alex", "Maria", "James", "Priya", "Chen", "Fatima", "Lucas", "Hannah", "Omar",
               "Sofia", "Daniel", "Aiko", "Marcus", "Elena", "Noah", "Grace", "Mateo", "Zoe")
LAST_NAMES = ("Johnson", "Garcia", "Nguyen", "Patel", "Smith", "Kim", "Martinez", "Brown",
              "Okafor", "Rossi", "Schmidt", "Lee", "Walker", "Hernandez", "Cohen", "Silva")
STREETS = ("Main Street", "Oak Avenue", "Pine Street", "Maple Drive", "Cedar Lane", "Elm Street",
           "Washington Avenue", "Lake Road", "Park Avenue", "1st Avenue", "Market Street",
           "Broadway", "Commerce Parkway", "Industrial Way", "Harbor Boulevard", "Mill Road")
PRODUCT_LINES = (
    ("D", "Item", "Audio", 90, (("Speaker", 249), ("Subwoofer", 399), ("Amplifier", 549),
                                ("Receiver", 699), ("Soundbar", 329), ("Headphones", 149),
                                ("Turntable", 279), ("Microphone", 119))),
    ("T", "Item", "TV&Video", 50, (("Television", 899), ("Projector", 1199), ("Media player", 129),
                                   ("Projector screen", 349), ("Streaming box", 99))),
    ("M", "Item", "Accessory", 70, (("HDMI cable", 19), ("Wall mount", 79), ("Charger", 29),
                                    ("Remote control", 39), ("Surge protector", 45),
                                    ("Battery pack", 59))),
    ("S", "Service", "Services", 12, (("Installation service", 150), ("Extended warranty", 99),
                                      ("On-site calibration", 200), ("Delivery and setup", 75))),
)
"""Item number prefix, product type, product group, how many, (noun, base price)."""
ADJECTIVES = ("Standard", "Premium", "Compact", "Pro", "Mini", "Classic", "Studio", "Outdoor",
              "Wireless", "Smart")
COLORS = ("black", "white", "silver", "graphite", "walnut")
CRM_ONLY_PRODUCTS = (("usmf", "BNDL-0001", "Home theater starter bundle", 1499.0),
                     ("usmf", "BNDL-0002", "Conference room audio kit", 2199.0),
                     ("usrt", "BNDL-0003", "Holiday gift bundle", 349.0))
"""Products a sales rep keyed in Dataverse: the create rule refuses them."""

# fmt: on

CUSTOMERS_PER_COMPANY = 750
CRM_ONLY_ACCOUNTS_PER_COMPANY = 75
ORDERS_PER_COMPANY = 300
CRM_ORDERS_PER_COMPANY = 18
START = datetime(2023, 3, 1, 8, 0, 0)
